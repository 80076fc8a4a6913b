-- Open, click-through and bounce rates per vendor and month, recomputed from the daily aggregate
-- (an analysis: compiled by `dbt compile`, not built).
with

daily as (

    select * from {{ ref('agg_engagement_daily') }}

),

monthly as (

    select
        source_vendor,
        {{ dbt.date_trunc('month', 'occurred_date') }} as occurred_month,
        sum(sends) as sends,
        sum(deliveries) as deliveries,
        sum(unique_opens) as unique_opens,
        sum(unique_clicks) as unique_clicks,
        sum(bounces) as bounces
    from daily
    group by 1, 2

),

final as (

    select
        source_vendor,
        occurred_month,
        {{ engagement.safe_ratio('unique_opens', 'deliveries') }} as open_rate,
        {{ engagement.safe_ratio('unique_clicks', 'deliveries') }} as click_through_rate,
        {{ engagement.safe_ratio('bounces', 'sends') }} as bounce_rate
    from monthly

)

select * from final
