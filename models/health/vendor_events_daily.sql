{#- Distinct events per vendor per UTC day of the event (not of its arrival), from the mart. -#}
with

events as (

    select
        source_vendor,
        occurred_date
    from {{ ref('fct_engagement_events') }}

),

final as (

    select
        {{ engagement.surrogate_key(['source_vendor', 'occurred_date']) }} as vendor_day_id,
        source_vendor,
        occurred_date,
        cast(count(*) as {{ dbt.type_bigint() }}) as events
    from events
    group by source_vendor, occurred_date

)

select * from final
