{#- Rejected lines without their text: the line may carry personal data; its file and number find it. -#}
with

rejects as (

    select * from {{ source('loader', 'rejects') }}

),

final as (

    select
        feed,
        uri,
        version as file_version,
        cast(line as {{ dbt.type_bigint() }}) as line_number,
        reason,
        load_id,
        rejected_at
    from rejects

)

select * from final
