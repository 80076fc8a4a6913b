{#- The model's `not_null` and `check` contract constraints, checked in one read where the engine does not
    enforce them. DuckDB enforces both on every write to a table created with its contract, so there the test
    reads nothing; it reads the constraints the table lacks (a table built before the constraint was declared or
    changed: `--full-refresh` rebuilds it with them) and, on Spark (Parquet tables: constraints not enforced),
    every declared one. One test per model instead of one per column (`not_null`, `accepted_values`): each dbt
    test node costs about 0.05 s of dbt's own time whatever it reads. A failing row names the column, the
    constraint and the count of rows that break it (a NULL passes a check, as it passes accepted_values). -#}
{% test contract_constraints(model) %}

{%- set checks = engagement.unenforced_column_constraints() %}

{%- if checks %}

with counted as (

    select
        {%- for check in checks %}
        sum(case when {{ check.violation }} then 1 else 0 end) as broken_{{ loop.index }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from {{ model }}

)

{%- for check in checks %}

select
    '{{ check.column }}' as column_name,
    '{{ check.constraint | replace("'", "''") }}' as column_constraint,
    broken_{{ loop.index }} as broken_rows
from counted
where broken_{{ loop.index }} > 0
{{ "union all" if not loop.last }}
{%- endfor %}

{%- else %}

select
    cast(null as {{ dbt.type_string() }}) as column_name,
    cast(null as {{ dbt.type_string() }}) as column_constraint,
    cast(null as {{ dbt.type_bigint() }}) as broken_rows
from (select 1 as one) as nothing
where 1 = 0

{%- endif %}

{% endtest %}
