{#- One row per engagement_event_id: the copy that reached the warehouse first (then file and line), so
    a full refresh and any sequence of incremental runs keep the same copy. -#}
{% macro dedupe_events(relation_or_cte) -%}
    {{ return(adapter.dispatch('dedupe_events', 'engagement')(relation_or_cte)) }}
{%- endmacro %}

{% macro default__dedupe_events(relation_or_cte) -%}
    select *
    from {{ relation_or_cte }}
    qualify row_number() over (
        partition by engagement_event_id
        order by loaded_at, source_uri, source_row
    ) = 1
{%- endmacro %}

{#- Spark has no QUALIFY (3.5 nor 4.0): the same window in a subquery, the output columns named. -#}
{% macro spark__dedupe_events(relation_or_cte) -%}
    {%- set columns = engagement.engagement_event_columns() + engagement.engagement_event_lineage_columns() -%}
    select
        {%- for name, type in columns %}
        {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    from (
        select
            *,
            row_number() over (
                partition by engagement_event_id
                order by loaded_at, source_uri, source_row
            ) as dedupe_rank
        from {{ relation_or_cte }}
    ) as ranked
    where dedupe_rank = 1
{%- endmacro %}
