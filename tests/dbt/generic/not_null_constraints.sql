{#- The model's `not_null` contract constraints, checked in one read where the engine does not enforce them.
    DuckDB enforces NOT NULL on every write to a table created with its contract, so there the test reads
    nothing; it reads the columns the table lacks the constraint on (a table built before the constraint was
    declared: `--full-refresh` adds it) and, on Spark (Parquet tables: constraints are not enforced), every
    declared column. One test per model instead of one per column: each dbt test node costs about 0.05 s of
    dbt's own time whatever it reads. A failing row names the column and its NULL count. -#}
{% test not_null_constraints(model) %}

{%- set columns = engagement.unenforced_not_null_columns() %}

{%- if columns %}

with counted as (

    select
        {%- for column in columns %}
        sum(case when {{ adapter.quote(column) }} is null then 1 else 0 end) as {{ adapter.quote(column) }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from {{ model }}

)

{%- for column in columns %}

select
    '{{ column }}' as column_name,
    {{ adapter.quote(column) }} as null_rows
from counted
where {{ adapter.quote(column) }} > 0
{{ "union all" if not loop.last }}
{%- endfor %}

{%- else %}

select
    cast(null as {{ dbt.type_string() }}) as column_name,
    cast(null as {{ dbt.type_bigint() }}) as null_rows
from (select 1 as one) as nothing
where 1 = 0

{%- endif %}

{% endtest %}
