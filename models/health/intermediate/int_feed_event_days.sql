{#- Per feed x UTC day of arrival: the distinct events of the mart that first arrived that day and how late,
    in hours, from int_feed_event_arrivals (the feed and batch of each event's first copy). feed_health_daily
    reads it.

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

{#- the ledger is read on incremental runs only (the days their new batches touch) -#}
-- depends_on: {{ ref('stg_loader__files') }}
{%- set watermark = none -%}
{%- if is_incremental() -%}
    {%- set watermark = engagement.incremental_watermark(this, 'last_loaded_at', var('engagement__lookback_hours')) -%}
{%- endif %}

with

{% if is_incremental() -%}
batches as (

    select
        feed,
        recorded_at as loaded_at,
        cast(recorded_at as date) as activity_date
    from {{ ref('stg_loader__files') }}
    where status in ('loaded', 'replaced')

),

touched_days as (

    select distinct
        feed,
        activity_date
    from batches
    where {{ engagement.loaded_after(watermark) }}

),

touched_batches as (

    select distinct batches.loaded_at
    from batches
    inner join touched_days
        on batches.feed = touched_days.feed and batches.activity_date = touched_days.activity_date

),

{% endif -%}
arrivals as (

    select arrivals.*
    from {{ ref('int_feed_event_arrivals') }} as arrivals
    {%- if is_incremental() %}
    inner join touched_days
        on arrivals.feed = touched_days.feed and arrivals.activity_date = touched_days.activity_date
    {#- implied by the join; as a `distinct` list of load times DuckDB filters the mart's scan with it #}
    where arrivals.loaded_at in (select touched_batches.loaded_at from touched_batches)
    {%- endif %}

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
