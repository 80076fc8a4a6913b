{#- Per feed: its newest file, its usual cadence and how long it has been silent, as of `health__as_of`
    (default now). Cadence: the median gap between successive load runs that brought the feed a new file,
    over the trailing `health__cadence_window_days`. A feed is silent past
    greatest(usual gap x `health__silence_factor`, `health__silence_min_hours`); the anomaly test
    `feed_not_silent` applies this rule, the threshold here is the same one drawn in the report. -#}
{%- set as_of = engagement.health_as_of() %}

with

files as (

    select * from {{ ref('stg_loader__files') }}

),

waiting as (

    select * from {{ ref('stg_loader__waiting_files') }}

),

loaded as (

    select * from files
    where status in ('loaded', 'replaced')

),

feed_runs as (

    -- the load runs that brought each feed at least one file, by their first batch
    select
        feed,
        load_id,
        min(recorded_at) as loaded_at
    from loaded
    group by feed, load_id

),

gaps as (

    select
        feed,
        loaded_at,
        (epoch(loaded_at) - epoch(lag(loaded_at) over (partition by feed order by loaded_at))) / 3600.0
            as gap_hours
    from feed_runs

),

cadence as (

    select
        feed,
        quantile_cont(gap_hours, 0.5) as usual_gap_hours,
        cast(count(gap_hours) as {{ dbt.type_bigint() }}) as gaps_in_window
    from gaps
    where
        gap_hours is not null
        and loaded_at >= {{ as_of }} - interval '{{ var("health__cadence_window_days") }} days'
    group by feed

),

newest as (

    select
        feed,
        min(source_vendor) as source_vendor,
        min(recorded_at) as first_loaded_at,
        max(recorded_at) as last_loaded_at,
        max(modified_at) as newest_file_modified_at,
        cast(count(*) as {{ dbt.type_bigint() }}) as files_loaded
    from loaded
    group by feed

),

all_feeds as (

    select feed from files
    union
    select feed from waiting

),

final as (

    select
        all_feeds.feed,
        newest.source_vendor,
        newest.first_loaded_at,
        newest.last_loaded_at,
        newest.newest_file_modified_at,
        coalesce(newest.files_loaded, 0) as files_loaded,
        (epoch({{ as_of }}) - epoch(newest.last_loaded_at)) / 3600.0 as hours_since_last_file,
        (epoch({{ as_of }}) - epoch(newest.newest_file_modified_at)) / 3600.0 as newest_file_age_hours,
        cadence.usual_gap_hours,
        coalesce(cadence.gaps_in_window, 0) as gaps_in_window,
        greatest(
            coalesce(cadence.usual_gap_hours * {{ var('health__silence_factor') }}, 0),
            {{ var('health__silence_min_hours') }}
        ) as silence_threshold_hours,
        {{ as_of }} as judged_at
    from all_feeds
    left join newest
        on all_feeds.feed = newest.feed
    left join cadence
        on all_feeds.feed = cadence.feed

)

select * from final
