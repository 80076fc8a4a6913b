{#- Per feed x UTC day of arrival: the distinct events of the mart that first arrived that day (the feed and
    batch of their first copy, as int_feed_event_arrivals) and how late, in hours. feed_health_daily reads it.

    Incremental on DuckDB: a run recomputes, from all their events, the (feed, day) pairs that have a batch
    loaded after this table's newest last_loaded_at minus the lookback, and replaces their rows; the other days
    keep theirs (a day's events only change when the day gets a batch: the mart never changes an event's
    loaded_at). So a daily run reads the new batches' events instead of every event of the mart for the
    quantiles. A full refresh (and Spark, where it is a table) reads all. -#}
{%- set on_spark = target.type == 'spark' -%}
{{
    config(
        materialized='table' if on_spark else 'incremental',
        incremental_strategy=none if on_spark else 'delete+insert',
        unique_key=none if on_spark else ['feed', 'activity_date'],
        on_schema_change='fail',
    )
}}

{%- set watermark = none -%}
{%- if is_incremental() -%}
    {%- set watermark = engagement.incremental_watermark(this, 'last_loaded_at', var('engagement__lookback_hours')) -%}
{%- endif %}

with

batches as (

    select distinct
        feed,
        raw_table,
        recorded_at as loaded_at,
        cast(recorded_at as date) as activity_date
    from {{ ref('stg_loader__files') }}
    where status in ('loaded', 'replaced')

),

{% if is_incremental() -%}
touched_days as (

    select distinct
        feed,
        activity_date
    from batches
    where {{ engagement.loaded_after(watermark) }}

),

{% endif -%}
day_batches as (

    select batches.*
    from batches
    {%- if is_incremental() %}
    inner join touched_days
        on batches.feed = touched_days.feed and batches.activity_date = touched_days.activity_date
    {%- endif %}

),

events as (

    select
        source_table,
        loaded_at,
        occurred_at
    from {{ ref('fct_engagement_events') }}
    {%- if is_incremental() %}
    {#- implied by the join below; as a `distinct` list DuckDB filters the mart's scan with it #}
    where loaded_at in (select distinct day_batches.loaded_at from day_batches)
    {%- endif %}

),

arrivals as (

    select
        day_batches.feed,
        day_batches.activity_date,
        events.loaded_at,
        (epoch_ms(events.loaded_at) - epoch_ms(events.occurred_at)) / 3600000.0 as late_hours
    from events
    inner join day_batches
        on events.source_table = day_batches.raw_table and events.loaded_at = day_batches.loaded_at

),

final as (

    select
        feed,
        activity_date,
        cast(count(*) as {{ dbt.type_bigint() }}) as new_distinct_events,
        quantile_cont(late_hours, 0.5) as late_hours_p50,
        quantile_cont(late_hours, 0.9) as late_hours_p90,
        quantile_cont(late_hours, 0.99) as late_hours_p99,
        max(late_hours) as late_hours_max,
        max(loaded_at) as last_loaded_at
    from arrivals
    group by feed, activity_date

)

select * from final
