{#- The moment feed health is judged at, as a UTC timestamp without time zone (the ledger's own type):
    `health__as_of` when set (a past day re-examined, or a test), else the time of the run. -#}
{% macro health_as_of() -%}
    {%- set as_of = var('health__as_of', none) -%}
    {%- if as_of -%}
        cast('{{ as_of }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        cast(current_timestamp at time zone 'UTC' as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}
