{#- The relations `publish_marts` publishes, referenced here so that the publish runs after all of them (and,
    in `dbt build`, after their tests). dbt's Python models cannot ref conditionally; this model can: the health
    marts only while they are switched on. tests/e2e/test_serving.py checks that every model of the published
    schemas is listed. -#}
{%- set inputs = [
    ref('agg_engagement_daily'),
    ref('dim_campaigns'),
    ref('dim_contacts'),
    ref('fct_engagement_event_rejects'),
    ref('fct_engagement_events'),
    ref('fct_segment_membership'),
    ref('metricflow_time_spine'),
] -%}
{#- null means on here: the publication runs on DuckDB only (dbt_project.yml) -#}
{%- if var('engagement__using_health', none) is none or var('engagement__using_health') -%}
    {%- set inputs = inputs + [
        ref('feed_freshness'),
        ref('feed_health_daily'),
        ref('feed_late_arrivals'),
        ref('feed_load_runs'),
        ref('feed_problem_files'),
        ref('feed_reject_reasons'),
        ref('feed_schema_changes'),
        ref('vendor_events_daily'),
    ] -%}
{%- endif %}

{% for relation in inputs -%}
    select
        '{{ relation.schema }}' as table_schema,
        '{{ relation.identifier }}' as table_name
    {% if not loop.last %}union all{% endif %}
{% endfor %}
