{#- The column constraints (`not_null`, `check`) of the tested model's contract that its table does not
    enforce, each as {column, constraint, violation: a SQL condition true for a breaking row}: all of them on an
    engine that does not enforce them (Spark), on DuckDB those the table was not created with (a NOT NULL column
    in duckdb_columns(), a CHECK of the same expression in duckdb_constraints(), compared without case, blanks
    and brackets). Called from the contract_constraints test, where `model` is the test node; empty at parse
    time. -#}
{% macro unenforced_column_constraints() -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set node = graph.nodes[model.attached_node] -%}
    {%- set declared = [] -%}
    {%- for column in node.columns.values() -%}
        {%- for constraint in column.constraints -%}
            {%- if constraint.type == 'not_null' -%}
                {%- do declared.append({
                    'column': column.name, 'constraint': 'not_null', 'key': 'not_null',
                    'violation': adapter.quote(column.name) ~ ' is null'}) -%}
            {%- elif constraint.type == 'check' -%}
                {%- do declared.append({
                    'column': column.name, 'constraint': 'check ' ~ constraint.expression,
                    'key': engagement.constraint_key(constraint.expression),
                    'violation': 'not (' ~ constraint.expression ~ ')'}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if target.type != 'duckdb' or not declared -%}
        {{ return(declared) }}
    {%- endif -%}
    {%- set enforced_query -%}
        select column_name, 'not_null' as key
        from duckdb_columns()
        where
            database_name = '{{ node.database }}'
            and schema_name = '{{ node.schema }}'
            and table_name = '{{ node.alias }}'
            and not is_nullable
        union all
        select unnest(constraint_column_names) as column_name, expression as key
        from duckdb_constraints()
        where
            database_name = '{{ node.database }}'
            and schema_name = '{{ node.schema }}'
            and table_name = '{{ node.alias }}'
            and constraint_type = 'CHECK'
    {%- endset -%}
    {%- set enforced = [] -%}
    {%- for row in run_query(enforced_query) -%}
        {%- set key = row[1] if row[1] == 'not_null' else engagement.constraint_key(row[1]) -%}
        {%- do enforced.append(row[0] ~ ':' ~ key) -%}
    {%- endfor -%}
    {%- set unenforced = [] -%}
    {%- for check in declared -%}
        {%- if (check.column ~ ':' ~ check.key) not in enforced -%}
            {%- do unenforced.append(check) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(unenforced) }}
{%- endmacro %}

{#- A check expression without case, blanks, brackets and double quotes: DuckDB keeps `(a IN ('x', 'y'))` for
    a declared `a in ('x', 'y')`. -#}
{% macro constraint_key(expression) -%}
    {{ return(modules.re.sub('[\\s()"]', '', expression | lower)) }}
{%- endmacro %}
