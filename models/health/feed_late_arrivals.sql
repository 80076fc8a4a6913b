{#- How late events reach the warehouse: per feed x day of arrival x lateness band (load time minus event
    time), the distinct events of the mart that first arrived then. Bands are fixed so days compare. -#}
with

arrivals as (

    select * from {{ ref('int_feed_event_arrivals') }}

),

banded as (

    select
        feed,
        source_vendor,
        activity_date,
        case
            when late_hours < 1 then 1
            when late_hours < 6 then 2
            when late_hours < 24 then 3
            when late_hours < 48 then 4
            when late_hours < 168 then 5
            when late_hours < 720 then 6
            else 7
        end as lateness_band_order
    from arrivals

),

counted as (

    select
        feed,
        source_vendor,
        activity_date,
        lateness_band_order,
        cast(count(*) as {{ dbt.type_bigint() }}) as events
    from banded
    group by feed, source_vendor, activity_date, lateness_band_order

),

final as (

    select
        {{ engagement.surrogate_key(['feed', 'source_vendor', 'activity_date', 'lateness_band_order']) }}
            as feed_late_arrival_id,
        feed,
        source_vendor,
        activity_date,
        lateness_band_order,
        case lateness_band_order
            when 1 then 'under 1 h'
            when 2 then '1-6 h'
            when 3 then '6-24 h'
            when 4 then '1-2 days'
            when 5 then '2-7 days'
            when 6 then '7-30 days'
            else 'over 30 days'
        end as lateness_band,
        events
    from counted

)

select * from final
