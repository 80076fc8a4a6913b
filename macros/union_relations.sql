{#- Our own union by name: every relation contributes the same declared columns in the same order, so
    the union never depends on column position in the inputs. Disabled vendors are simply not listed. -#}
{% macro union_canonical(relations) -%}
    {%- set columns = engagement.engagement_event_columns() + engagement.engagement_event_lineage_columns() -%}
    {%- for relation in relations %}
    select
        {%- for name, type in columns %}
        {%- if name == 'properties' %}
        {{ engagement.redact_emails(name) }} as {{ name }}{{ "," if not loop.last }}
        {%- else %}
        {{ name }}{{ "," if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
