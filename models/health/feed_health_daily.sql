{#- Feed health per feed x UTC day, every day from the feed's first ledger entry to the day health is
    judged at (`health__as_of`, default now), silent days included (zero files, an ageing newest file).

    A day is the day the loader recorded it (`loaded_at`, `rejected_at`, the waiting check), not the day
    the events happened. Duplicates and late arrival come from the mart: an event of fct_engagement_events
    belongs to the feed and day of its first copy's batch (same raw table, same `loaded_at`). -#}
{%- set as_of = engagement.health_as_of() %}

with

files as (

    select * from {{ ref('stg_loader__files') }}

),

rejects as (

    select * from {{ ref('stg_loader__rejects') }}

),

waiting as (

    select * from {{ ref('stg_loader__waiting_files') }}

),

schema_changes as (

    select * from {{ ref('feed_schema_changes') }}

),

event_days as (

    select * from {{ ref('int_feed_event_days') }}

),

event_tables as (

    select distinct source_table as raw_table
    from {{ ref('fct_engagement_events') }}

),

file_days as (

    select
        files.feed,
        cast(files.recorded_at as date) as activity_date,
        {{ engagement.count_where("files.status in ('loaded', 'replaced')") }} as files_loaded,
        sum(case when files.status in ('loaded', 'replaced') then files.row_count else 0 end) as rows_loaded,
        sum(case when files.status in ('loaded', 'replaced') then files.size_bytes else 0 end) as bytes_loaded,
        {{ engagement.count_where("files.status = 'quarantined'") }} as files_quarantined,
        {{ engagement.count_where("files.status in ('unrecognized', 'unrecognized_cleared')") }}
            as files_unrecognized,
        sum(
            case
                when files.status in ('loaded', 'replaced') and event_tables.raw_table is not null
                    then files.row_count
                else 0
            end
        ) as raw_event_rows,
        max(case when files.status in ('loaded', 'replaced') then files.recorded_at end) as last_loaded_at,
        max(case when files.status in ('loaded', 'replaced') then files.modified_at end) as newest_file_modified_at
    from files
    left join event_tables
        on files.raw_table = event_tables.raw_table
    group by files.feed, cast(files.recorded_at as date)

),

reject_days as (

    select
        feed,
        cast(rejected_at as date) as activity_date,
        count(*) as rows_rejected
    from rejects
    group by feed, cast(rejected_at as date)

),

waiting_days as (

    select
        feed,
        cast(checked_at as date) as activity_date,
        count(*) as files_waiting
    from waiting
    group by feed, cast(checked_at as date)

),

schema_days as (

    select
        feed,
        seen_date as activity_date,
        {{ engagement.count_where('not is_initial') }} as new_columns
    from schema_changes
    group by feed, seen_date

),

activity as (

    select
        feed,
        activity_date
    from file_days
    union all
    select
        feed,
        activity_date
    from reject_days
    union all
    select
        feed,
        activity_date
    from waiting_days
    union all
    select
        feed,
        activity_date
    from schema_days

),

feed_spans as (

    select
        feed,
        min(activity_date) as first_date,
        greatest(max(activity_date), cast({{ as_of }} as date)) as last_date
    from activity
    where feed is not null
    group by feed

),

feed_vendors as (

    select
        feed,
        min(source_vendor) as source_vendor
    from files
    group by feed

),

calendar as (

    select
        feed,
        cast(unnest(generate_series(first_date, last_date, interval 1 day)) as date) as activity_date
    from feed_spans

),

daily as (

    select
        calendar.feed,
        calendar.activity_date,
        cast(coalesce(file_days.files_loaded, 0) as {{ dbt.type_bigint() }}) as files_loaded,
        cast(coalesce(file_days.rows_loaded, 0) as {{ dbt.type_bigint() }}) as rows_loaded,
        cast(coalesce(file_days.bytes_loaded, 0) as {{ dbt.type_bigint() }}) as bytes_loaded,
        cast(coalesce(file_days.files_quarantined, 0) as {{ dbt.type_bigint() }}) as files_quarantined,
        cast(coalesce(file_days.files_unrecognized, 0) as {{ dbt.type_bigint() }}) as files_unrecognized,
        cast(coalesce(reject_days.rows_rejected, 0) as {{ dbt.type_bigint() }}) as rows_rejected,
        cast(coalesce(waiting_days.files_waiting, 0) as {{ dbt.type_bigint() }}) as files_waiting,
        cast(coalesce(schema_days.new_columns, 0) as {{ dbt.type_bigint() }}) as new_columns,
        cast(coalesce(file_days.raw_event_rows, 0) as {{ dbt.type_bigint() }}) as raw_event_rows,
        cast(coalesce(event_days.new_distinct_events, 0) as {{ dbt.type_bigint() }}) as new_distinct_events,
        event_days.late_hours_p50,
        event_days.late_hours_p90,
        event_days.late_hours_p99,
        event_days.late_hours_max,
        -- the newest file so far, carried over silent days
        max(file_days.last_loaded_at) over feed_so_far as last_loaded_at,
        max(file_days.newest_file_modified_at) over feed_so_far as newest_file_modified_at,
        -- the end of the day, or the moment of judgement on its own day
        least(cast(calendar.activity_date + interval 1 day as {{ dbt.type_timestamp() }}), {{ as_of }}) as day_end_at
    from calendar
    left join file_days
        on calendar.feed = file_days.feed and calendar.activity_date = file_days.activity_date
    left join reject_days
        on calendar.feed = reject_days.feed and calendar.activity_date = reject_days.activity_date
    left join waiting_days
        on calendar.feed = waiting_days.feed and calendar.activity_date = waiting_days.activity_date
    left join schema_days
        on calendar.feed = schema_days.feed and calendar.activity_date = schema_days.activity_date
    left join event_days
        on calendar.feed = event_days.feed and calendar.activity_date = event_days.activity_date
    window feed_so_far as (
        partition by calendar.feed
        order by calendar.activity_date
        rows between unbounded preceding and current row
    )

),

final as (

    select
        {{ engagement.surrogate_key(['daily.feed', 'daily.activity_date']) }} as feed_day_id,
        daily.feed,
        feed_vendors.source_vendor,
        daily.activity_date,
        daily.files_loaded,
        daily.rows_loaded,
        daily.bytes_loaded,
        daily.files_quarantined,
        daily.files_unrecognized,
        daily.rows_rejected,
        daily.files_waiting,
        daily.new_columns,
        daily.raw_event_rows,
        daily.new_distinct_events,
        daily.raw_event_rows - daily.new_distinct_events as duplicate_rows,
        {{ engagement.safe_ratio('daily.raw_event_rows - daily.new_distinct_events', 'daily.raw_event_rows') }}
            as duplicate_rate,
        {{ engagement.safe_ratio('daily.files_quarantined', 'daily.files_loaded + daily.files_quarantined') }}
            as quarantine_rate,
        {{ engagement.safe_ratio('daily.rows_rejected', 'daily.rows_loaded + daily.rows_rejected') }}
            as reject_rate,
        daily.late_hours_p50,
        daily.late_hours_p90,
        daily.late_hours_p99,
        daily.late_hours_max,
        daily.last_loaded_at,
        daily.newest_file_modified_at,
        (epoch(daily.day_end_at) - epoch(daily.last_loaded_at)) / 3600.0 as hours_since_last_file,
        (epoch(daily.day_end_at) - epoch(daily.newest_file_modified_at)) / 3600.0 as newest_file_age_hours
    from daily
    left join feed_vendors
        on daily.feed = feed_vendors.feed

)

select * from final
