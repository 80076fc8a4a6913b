{#- dbt's `where` test config, plus one placeholder: `__engagement_test_window__` becomes
    engagement.test_window() at run time (dbt_project.yml cannot call project macros itself). -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- if '__engagement_test_window__' in where -%}
            {%- set where = where | replace('__engagement_test_window__', engagement.test_window()) -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) as dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
