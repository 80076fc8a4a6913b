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

with

unioned as (

    select * from {{ ref('int_engagement_events_unioned') }}
    where {{ engagement.loaded_after(watermark) }}

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
