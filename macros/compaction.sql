{#- Compaction of the warehouse file (DuckDB). dbt's connection merges no row groups at its checkpoints
    (`max_vacuum_tasks: 0` in profiles.yml), as the loader's does not: DuckDB would otherwise merge every table's
    part-filled last row groups, and reclaim the rows the incremental marts delete, at the first checkpoint after
    any write, i.e. inside every daily build (the tail of each raw table and of the fact rewritten every other
    run). Instead the build that finds the last compaction `engagement__compact_every_days` old turns merging on
    for one checkpoint of the whole file at its end (on-run-end) and records it in `maintenance.compactions`; a
    warehouse's first build only starts the clock, and `dbt run-operation compact_warehouse` compacts now. See
    docs/decisions.md (issue 17, "Compaction when due"). -#}

{% macro compact_when_due() -%}
    {%- if execute and target.type == 'duckdb' and target.path != ':memory:' -%}
        {%- do engagement.ensure_compaction_log() -%}
        {%- set due = run_query(
            "select max(compacted_at) <= current_timestamp::timestamp - interval "
            ~ (var('engagement__compact_every_days') | int) ~ " day"
            ~ " from maintenance.compactions where finished_at is not null"
        ).columns[0].values()[0] -%}
        {%- if due is none -%}
            {#- a new warehouse: its tables were just written; the clock starts here -#}
            {%- do run_query(
                "insert into maintenance.compactions values"
                ~ " (current_timestamp::timestamp, current_timestamp::timestamp, 'first build: nothing merged')"
            ) -%}
        {%- elif due -%}
            {%- do engagement.compact_warehouse(reason='due') -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro compact_warehouse(reason='asked') -%}
    {%- if target.type != 'duckdb' -%}
        {%- do exceptions.raise_compiler_error('compact_warehouse: only the DuckDB warehouse is compacted') -%}
    {%- endif -%}
    {%- do engagement.ensure_compaction_log() -%}
    {#- the row is the checkpoint's write: DuckDB skips a checkpoint with nothing to write, and merges only in one -#}
    {%- do run_query(
        "insert into maintenance.compactions (compacted_at, reason) values (current_timestamp::timestamp, "
        ~ engagement.string_literal(reason) ~ ")"
    ) -%}
    {%- do run_query("set max_vacuum_tasks = 100") -%}
    {%- do run_query("checkpoint") -%}
    {%- do run_query("set max_vacuum_tasks = 0") -%}
    {%- do run_query(
        "update maintenance.compactions set finished_at = current_timestamp::timestamp"
        ~ " where finished_at is null"
    ) -%}
    {{ log("compacted the warehouse (" ~ reason ~ ")", info=true) }}
{%- endmacro %}

{% macro ensure_compaction_log() -%}
    {%- do run_query("create schema if not exists maintenance") -%}
    {%- do run_query(
        "create table if not exists maintenance.compactions ("
        ~ "compacted_at timestamp not null, finished_at timestamp, reason varchar not null)"
    ) -%}
{%- endmacro %}
