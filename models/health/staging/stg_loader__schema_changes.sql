with

schema_changes as (

    select * from {{ source('loader', 'schema_changes') }}

),

final as (

    select
        raw_table,
        split_part(raw_table, '__', 1) as source_vendor,
        column_name,
        column_type,
        first_uri,
        load_id,
        seen_at
    from schema_changes

)

select * from final
