{#- Feed health: a feed silent for longer than its usual cadence. One failing row per silent feed.
    Rule: hours since the feed's last loaded file > greatest(usual gap x factor, min_hours), where the usual
    gap is the median gap between the load runs that brought it files (feed_freshness.usual_gap_hours). A
    feed that never loaded a file has no cadence and is not judged here (its waiting files are). -#}
{% test feed_not_silent(model, factor=none, min_hours=none) %}
{%- set factor = var('health__silence_factor') if factor is none else factor -%}
{%- set min_hours = var('health__silence_min_hours') if min_hours is none else min_hours %}

select
    feed,
    last_loaded_at,
    hours_since_last_file,
    usual_gap_hours,
    greatest(coalesce(usual_gap_hours * {{ factor }}, 0), {{ min_hours }}) as allowed_hours
from {{ model }}
where
    last_loaded_at is not null
    and hours_since_last_file > greatest(coalesce(usual_gap_hours * {{ factor }}, 0), {{ min_hours }})

{% endtest %}
