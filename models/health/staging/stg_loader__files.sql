{#- The ledger's files, one row per file version and outcome. The vendor is the raw table's prefix
    (`sailthru__campaign_open` -> sailthru); the modification time is the source's own (S3 LastModified,
    SFTP or local mtime, the APSIS window's end), NULL when the source gives none. -#}
with

files as (

    select * from {{ source('loader', 'files') }}

),

final as (

    select
        feed,
        uri,
        version as file_version,
        raw_table,
        split_part(raw_table, '__', 1) as source_vendor,
        status,
        cast(size as {{ dbt.type_bigint() }}) as size_bytes,
        cast(coalesce(rows, 0) as {{ dbt.type_bigint() }}) as row_count,
        case
            when mtime > 0 then {{ engagement.epoch_to_timestamp('mtime', 's') }}
        end as modified_at,
        load_id,
        loaded_at as recorded_at,
        -- a reader's message may quote the offending line: keep the reason, not the vendor's data
        regexp_replace(error, '\s*Original Line:.*$', '') as error
    from files

)

select * from final
