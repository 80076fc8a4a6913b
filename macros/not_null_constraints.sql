{#- The columns of the tested model with a `not_null` contract constraint that its table does not enforce:
    all of them on an engine that does not enforce NOT NULL (Spark), on DuckDB those the table was not
    created with (duckdb_columns().is_nullable). Called from the not_null_constraints test, where `model` is
    the test node; empty at parse time. -#}
{% macro unenforced_not_null_columns() -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set node = graph.nodes[model.attached_node] -%}
    {%- set declared = [] -%}
    {%- for column in node.columns.values() -%}
        {%- if column.constraints | selectattr('type', 'equalto', 'not_null') | list -%}
            {%- do declared.append(column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if target.type != 'duckdb' or not declared -%}
        {{ return(declared) }}
    {%- endif -%}
    {%- set enforced_query -%}
        select column_name
        from duckdb_columns()
        where
            database_name = '{{ node.database }}'
            and schema_name = '{{ node.schema }}'
            and table_name = '{{ node.alias }}'
            and not is_nullable
    {%- endset -%}
    {%- set enforced = run_query(enforced_query).columns[0].values() -%}
    {{ return(declared | reject('in', enforced) | list) }}
{%- endmacro %}
