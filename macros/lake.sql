{#- The raw layer on Spark: one external Parquet table per lake folder `<location>/<raw schema>/<table>`,
    columns merged by name across the folder's files (each source file's Parquet object has the columns its
    source file had). Re-registered on every call, so columns a new file brought appear; dropping an external
    table leaves its files alone. Run by `python -m loaders.lake.register` (it lists the folders). -#}
{% macro register_lake_tables(location, tables) -%}
    {%- set schema = var('engagement__raw_schema') -%}
    {%- do run_query('create schema if not exists ' ~ schema) -%}
    {%- for table in tables -%}
        {%- if not modules.re.match('^[a-z0-9_]+$', table) -%}
            {{ exceptions.raise_compiler_error('lake table name ' ~ table ~ ' is not a plain raw table name') }}
        {%- endif -%}
        {%- do run_query('drop table if exists ' ~ schema ~ '.' ~ table) -%}
        {%- do run_query(
            'create table ' ~ schema ~ '.' ~ table ~ ' using parquet options (path '
            ~ engagement.spark_literal(location.rstrip('/') ~ '/' ~ schema ~ '/' ~ table)
            ~ ", mergeSchema 'true', recursiveFileLookup 'true')") -%}
        {{ log('registered ' ~ schema ~ '.' ~ table, info=true) }}
    {%- endfor -%}
{%- endmacro %}

{#- on-run-start: register the lake when `python -m loaders.lake.register --dbt build` passed its tables. -#}
{% macro register_lake_from_vars() -%}
    {%- set tables = var('engagement__lake_tables', none) -%}
    {%- if execute and tables is not none and target.type == 'spark' -%}
        {%- do engagement.register_lake_tables(var('engagement__lake_location'), tables) -%}
    {%- endif -%}
{%- endmacro %}
