{#- Each distinct event of the mart on the feed and batch of its first copy: a batch is one feed's files of
    one raw table stamped with one loaded_at, which the mart keeps as the event's loaded_at. Late arrival is
    load time minus event time, in hours. -#}
with

events as (

    select
        source_vendor,
        source_table,
        loaded_at,
        occurred_at
    from {{ ref('fct_engagement_events') }}

),

batches as (

    select distinct
        feed,
        raw_table,
        recorded_at as loaded_at
    from {{ ref('stg_loader__files') }}
    where status in ('loaded', 'replaced')

),

final as (

    select
        batches.feed,
        events.source_vendor,
        events.source_table,
        events.loaded_at,
        cast(events.loaded_at as date) as activity_date,
        events.occurred_at,
        (epoch_ms(events.loaded_at) - epoch_ms(events.occurred_at)) / 3600000.0 as late_hours
    from events
    inner join batches
        on events.source_table = batches.raw_table and events.loaded_at = batches.loaded_at

)

select * from final
