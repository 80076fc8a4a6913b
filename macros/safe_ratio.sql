{#- A rate as double, NULL when the denominator is zero (no sends is "no rate", not 0 %). -#}
{% macro safe_ratio(numerator, denominator) -%}
    cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
{%- endmacro %}
