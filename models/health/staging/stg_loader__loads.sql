with

loads as (

    select * from {{ source('loader', 'loads') }}

),

final as (

    select
        load_id,
        started_at,
        finished_at,
        feeds as feed_list,
        status as outcome,
        cast(files_loaded as {{ dbt.type_bigint() }}) as files_loaded,
        cast(files_quarantined as {{ dbt.type_bigint() }}) as files_quarantined,
        cast(rows_loaded as {{ dbt.type_bigint() }}) as rows_loaded
    from loads

)

select * from final
