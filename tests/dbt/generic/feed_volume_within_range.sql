{#- Feed health: a day's volume far outside the feed's recent range. One failing row per feed day.
    Rule: a recent day with files (the last `health__recent_days` days up to as_of) fails when its rows
    are above trailing median x factor, or below trailing median / factor; the trailing median is over the
    feed's earlier days with files in the `window_days` before it, and a feed needs `min_history` such days
    before it is judged. The day of as_of is not over yet: it fails only when above. Days without files
    are the silence test's business, not this one's. -#}
{% test feed_volume_within_range(model, column_name, factor=none, window_days=none, min_history=none) %}
{%- set factor = var('health__volume_factor') if factor is none else factor -%}
{%- set window_days = var('health__volume_window_days') if window_days is none else window_days -%}
{%- set min_history = var('health__volume_min_history') if min_history is none else min_history -%}
{%- set as_of_date = 'cast(' ~ engagement.health_as_of() ~ ' as date)' %}

with

active_days as (

    select
        feed,
        activity_date,
        {{ column_name }} as volume
    from {{ model }}
    where files_loaded + files_quarantined > 0

),

recent as (

    select * from active_days
    where activity_date >= {{ as_of_date }} - {{ var('health__recent_days') }}

),

compared as (

    select
        recent.feed,
        recent.activity_date,
        recent.volume,
        quantile_cont(history.volume, 0.5) as trailing_median,
        count(*) as history_days
    from recent
    inner join active_days as history
        on
            recent.feed = history.feed
            and history.activity_date < recent.activity_date
            and history.activity_date >= recent.activity_date - {{ window_days }}
    group by recent.feed, recent.activity_date, recent.volume

)

select
    feed,
    activity_date,
    volume,
    trailing_median,
    history_days
from compared
where
    history_days >= {{ min_history }}
    and (
        volume > trailing_median * {{ factor }}
        or (volume < trailing_median / {{ factor }} and activity_date < {{ as_of_date }})
    )

{% endtest %}
