{#- Seeds on Spark: dbt-spark's session method pastes the values into the statement unescaped, so a `'`
    in a description breaks the insert and an empty cell becomes the text 'None'. Here every value is a
    literal escaped for Spark (`spark_literal`) and an empty cell is NULL, as on DuckDB. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set type = column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) -%}
                    {%- set value = row[loop.index0] -%}
                    {%- if value is none -%}
                        cast(null as {{ type }})
                    {%- else -%}
                        cast({{ engagement.spark_literal(value | string) }} as {{ type }})
                    {%- endif -%}
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{% endmacro %}

{#- dbt-spark's listagg drops its order (collect_list has none): sort the collected values when the order
    is the measure itself, which is the only order the project asks for. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if order_by_clause and order_by_clause | trim | lower != 'order by ' ~ measure | trim | lower -%}
        {{ exceptions.raise_compiler_error('listagg on Spark sorts by the measure only; got ' ~ order_by_clause) }}
    {%- endif -%}
    {%- if limit_num -%}
        {{ exceptions.raise_compiler_error('listagg on Spark: limit_num is not supported') }}
    {%- endif -%}
    array_join(
        {%- if order_by_clause %} array_sort(collect_list({{ measure }})){% else %} collect_list({{ measure }}){% endif -%}
        , {{ delimiter_text }})
{%- endmacro %}
