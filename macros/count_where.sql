{#- Rows meeting a condition, as bigint (portable; avoids engine-specific count_if / filter). -#}
{% macro count_where(condition) -%}
    cast(sum(case when {{ condition }} then 1 else 0 end) as {{ dbt.type_bigint() }})
{%- endmacro %}
