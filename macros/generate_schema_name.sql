{#- Layers live in plainly named schemas (staging, intermediate, marts, seeds) rather than dbt's
    default `<target>_<custom>`: the loaders own `raw`, and analysts query `marts` by name. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
