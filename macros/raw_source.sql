{#- The raw tables' contract (set by the loaders): vendor headers as column names, lineage columns, one
    `_part_<key>` column per path partition, and `_control_<key>` columns a control file vouched for the file
    (Simon's `_control_flow_id`, `_control_flow_name`): loader lineage, not vendor fields, so a model lists
    them to read them and they never enter `_extra_fields`. -#}
{% macro raw_lineage_columns() -%}
    {{ return(['_source_uri', '_source_row', '_file_version', '_load_id', '_loaded_at']) }}
{%- endmacro %}

{#- Select from a raw table by column NAME, never position, tolerant of drift:
    - each expected column comes out under its lower-case name, NULL when the table lacks it
      (old files without `event_id`, a vendor header not yet seen);
    - every other vendor column is packed into `_extra_fields` (JSON text) so nothing is dropped;
    - an absent table (a vendor switched on before its first load) gives zero typed rows.
    `types` maps a column to its SQL type for the empty case; text formats land as varchar. -#}
{% macro raw_source(source_name, table_name, columns, partitions=[], types={}) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set wanted = columns | map('lower') | list -%}
    {%- set lineage = engagement.raw_lineage_columns() -%}
    {%- set part_columns = [] -%}
    {%- for key in partitions -%}{%- do part_columns.append('_part_' ~ key) -%}{%- endfor -%}
    {%- set found = {} -%}
    {%- set extras = [] -%}
    {%- set exists = false -%}
    {%- set fixture_only = false -%}
    {%- if execute -%}
        {#- in a unit test source() names the fixture CTE: introspect the real table behind it -#}
        {%- set real = engagement.source_relation(source_name, table_name) -%}
        {%- set existing = adapter.get_relation(
            database=real.database, schema=real.schema, identifier=real.identifier) -%}
        {%- set in_unit_test = (relation | string).startswith('__dbt__cte__') -%}
        {%- if existing is none and in_unit_test -%}
            {#- a unit test of a vendor never loaded: the fixture holds some of the columns; the rest are NULL -#}
            {%- set fixture_only = true -%}
            {%- set exists = true -%}
            {%- for name in wanted + lineage + part_columns -%}{%- do found.update({name: name}) -%}{%- endfor -%}
        {%- elif existing is not none -%}
            {%- set exists = true -%}
            {%- for column in adapter.get_columns_in_relation(existing) -%}
                {%- set lowered = column.name | lower -%}
                {%- if lowered in wanted or lowered in lineage or lowered in part_columns -%}
                    {%- if lowered not in found -%}{%- do found.update({lowered: column.name}) -%}{%- endif -%}
                {%- elif not lowered.startswith('_part_') and not lowered.startswith('_control_') -%}
                    {%- do extras.append(column.name) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {%- set outputs = wanted + lineage + part_columns -%}
    select
    {%- for name in outputs %}
        {% if name in found -%}
            {{ adapter.quote(found[name]) }}
        {%- else -%}
            cast(null as {{ types.get(name, engagement.raw_default_type(name)) }})
        {%- endif %} as {{ adapter.quote(name) }},
    {%- endfor %}
        {% if extras | length > 0 -%}
            {%- set pairs = [] -%}
            {#- by name, not by the table's column order: two warehouses (DuckDB, the lake) add columns in
                different orders, and identities hashed from this JSON must not depend on it -#}
            {%- for name in extras | sort(case_sensitive=true) -%}
                {%- do pairs.append((name, 'cast(' ~ adapter.quote(name) ~ ' as ' ~ dbt.type_string() ~ ')')) -%}
            {%- endfor -%}
            {#- nulls are dropped, so a column the table grew later (a NULL for older rows) leaves older rows'
                JSON unchanged: identities hashed from it stay stable across incremental runs -#}
            {{ engagement.json_merge("'{}'", engagement.json_object_from(pairs)) }}
        {%- else -%}
            cast(null as {{ dbt.type_string() }})
        {%- endif %} as _extra_fields
    {%- if fixture_only %}
    from (
        {{ engagement.fill_missing_columns(relation, wanted + lineage + part_columns, types) }}
    ) as fixture
    {%- elif exists %}
    from {{ relation }}
    {%- else %}
    {#- the table is absent: zero typed rows, while source() above keeps the lineage edge #}
    where 1 = 0
    {%- endif %}
{%- endmacro %}

{% macro raw_default_type(name) -%}
    {%- if name == '_source_row' -%}
        {{ return(dbt.type_bigint()) }}
    {%- elif name == '_loaded_at' -%}
        {{ return(dbt.type_timestamp()) }}
    {%- else -%}
        {{ return(dbt.type_string()) }}
    {%- endif -%}
{%- endmacro %}

{#- The warehouse relation of a source, from the graph (unaffected by unit-test fixture substitution). -#}
{% macro source_relation(source_name, table_name) -%}
    {%- if graph.sources is not defined -%}
        {#- unit tests get no graph: our sources follow `<raw schema>.<source>__<table>` -#}
        {{ return(api.Relation.create(database=target.get('database'), schema=var('engagement__raw_schema'),
            identifier=source_name ~ '__' ~ table_name)) }}
    {%- endif -%}
    {%- for node in graph.sources.values() -%}
        {%- if node.source_name == source_name and node.name == table_name -%}
            {{ return(api.Relation.create(
                database=node.database, schema=node.schema, identifier=node.identifier)) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error('unknown source ' ~ source_name ~ '.' ~ table_name) }}
{%- endmacro %}

{#- Rows of `relation` with every column of `names`, NULL (typed) where the relation lacks one: for unit tests
    whose fixture names only the columns a case needs while the raw table does not exist yet. -#}
{% macro fill_missing_columns(relation, names, types={}) -%}
    {{ return(adapter.dispatch('fill_missing_columns', 'engagement')(relation, names, types)) }}
{%- endmacro %}

{% macro default__fill_missing_columns(relation, names, types) -%}
    select
    {%- for name in names %}
        cast(null as {{ types.get(name, engagement.raw_default_type(name)) }}) as {{ adapter.quote(name) }}
        {{- "," if not loop.last }}
    {%- endfor %}
    where 1 = 0
    union all by name
    select * from {{ relation }}
{%- endmacro %}

{#- dbt's own fixture builder, with one change: a source whose table does not exist yet (a vendor switched on
    before its first load) types its fixture columns as the loader would land them (text; lineage typed), so
    the unit tests of a never-loaded vendor run instead of failing on the missing relation. -#}
{% macro get_fixture_sql(rows, column_name_to_data_types) %}
    {%- if not column_name_to_data_types and execute and load_relation(this) is none
        and this.schema == var('engagement__raw_schema') -%}
        {%- set names = [] -%}
        {%- for row in rows -%}
            {%- for name in row.keys() -%}
                {%- if name not in names -%}{%- do names.append(name) -%}{%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for row in rows %}
        select
            {%- for name in names %}
            {%- set type = engagement.raw_default_type(name | lower) -%}
            {%- set value = row.get(name) %}
            {% if value is none -%}
                cast(null as {{ type }})
            {%- else -%}
                cast('{{ value | string | replace("'", "''") }}' as {{ type }})
            {%- endif %} as {{ adapter.quote(name | lower) }}{{ "," if not loop.last }}
            {%- endfor %}
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
        {%- if rows | length == 0 %}
        select cast(null as {{ dbt.type_string() }}) as _no_rows where 1 = 0
        {%- endif %}
    {%- else -%}
        {{ dbt.get_fixture_sql(rows, column_name_to_data_types) }}
    {%- endif -%}
{% endmacro %}
