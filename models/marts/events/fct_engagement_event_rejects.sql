{%- set on_spark = target.type == 'spark' -%}
{{
    config(
        materialized='table' if on_spark else 'incremental',
        incremental_strategy=none if on_spark else 'delete+insert',
        unique_key=none if on_spark else 'loaded_at',
        on_schema_change='fail',
    )
}}

{#- Rows that cannot be placed in fct_engagement_events: no usable event time, no vendor event key, or a
    vendor event the seeds do not map (add it to seeds/engagement_event_map.csv, then build with
    --full-refresh). One row per raw row, with its file and line, so none is lost in silence.
    Incremental on DuckDB (Spark rebuilds the table): a run reads the raw rows the fact reads (loaded after the
    fact's newest loaded_at minus the lookback, read before the fact takes the new rows: the fact depends on
    this model) and replaces the rejects of every load time it read, so the table equals a full refresh
    whatever was re-read. Run the two together (`dbt build`, `dbt run`, `--select +fct_engagement_events`):
    the fact run alone moves the watermark past rejects not yet written (a --full-refresh brings them). -#}
{%- set watermark = none -%}
{%- if is_incremental() -%}
    {%- set watermark = engagement.fact_watermark() -%}
{%- endif %}
{#- First the files that hold a reject, from the few columns a reason needs; then the reject columns for those
    files' rows only. Read in one pass, every row's event id and contact key (hashes) were computed and
    dropped: at 10 M events 9.9 s, where the two reads take 3.7 s and, with no reject, nothing more. Past
    `max_files` files, or a reject with no file (the rejects' not-null constraint then fails the build), the
    second read takes every file. -#}
{%- set max_files = 500 -%}
{%- set file_filter = 'true' -%}
{#- (not when the union is not built yet: `dbt compile` or the linter on an empty warehouse) -#}
{%- if execute and load_relation(ref('int_engagement_events_unioned')) is not none -%}
    {%- call statement('rejected_files', fetch_result=True) -%}
        select distinct source_uri
        from {{ ref('int_engagement_events_unioned') }}
        where {{ engagement.loaded_after(watermark) }} and reject_reason is not null
    {%- endcall -%}
    {%- set rejected_files = load_result('rejected_files')['data'] | map(attribute=0) | list -%}
    {%- if rejected_files | length <= max_files and none not in rejected_files -%}
        {%- set file_filter = engagement.in_list('source_uri', rejected_files) -%}
    {%- endif -%}
{%- endif %}

with

unioned as (

    select * from {{ ref('int_engagement_events_unioned') }}
    where
        {{ engagement.loaded_after(watermark) }}
        and {{ file_filter }}

),

final as (

    select
        reject_reason,
        source_vendor,
        source_table,
        source_uri,
        source_row,
        source_event_id,
        source_event_name,
        occurred_at,
        contact_key,
        engagement_event_id,
        loaded_at
    from unioned
    where reject_reason is not null

)

select * from final
