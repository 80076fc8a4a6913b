{#- Distinct events per vendor per UTC day of the event (not of its arrival). The mart's daily aggregate
    counts every event of the fact once, in the row of its day, vendor, channel and campaign (`events`), so
    the sum of its rows per vendor and day is the mart's count, read from a few hundred rows instead of the
    whole fact on every run (docs/decisions.md, issue 17). -#}
with

daily as (

    select
        source_vendor,
        occurred_date,
        events
    from {{ ref('agg_engagement_daily') }}

),

final as (

    select
        {{ engagement.surrogate_key(['source_vendor', 'occurred_date']) }} as vendor_day_id,
        source_vendor,
        occurred_date,
        cast(sum(events) as {{ dbt.type_bigint() }}) as events
    from daily
    group by source_vendor, occurred_date
    having sum(events) > 0

)

select * from final
