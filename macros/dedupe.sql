{#- One row per engagement_event_id: the copy that reached the warehouse first (then file and line), so
    a full refresh and any sequence of incremental runs keep the same copy. -#}
{% macro dedupe_events(relation_or_cte) -%}
    select *
    from {{ relation_or_cte }}
    qualify row_number() over (
        partition by engagement_event_id
        order by loaded_at, source_uri, source_row
    ) = 1
{%- endmacro %}
