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

{#- The enabled vendors' adapter models, as refs. -#}
{% macro enabled_vendor_adapters() -%}
    {%- set relations = [] -%}
    {%- for vendor in ['sailthru', 'simon', 'apsis', 'encharge', 'leanplum'] -%}
        {%- if var('engagement__using_' ~ vendor) -%}
            {%- do relations.append(ref('int_' ~ vendor ~ '__events')) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(relations) }}
{%- endmacro %}

{#- `select * ... union all ...` over models of one shape (e.g. the ten Sailthru email tables). -#}
{% macro union_all_refs(model_names) -%}
    {%- for name in model_names %}
    select * from {{ ref(name) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
