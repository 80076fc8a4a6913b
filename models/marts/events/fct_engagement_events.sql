{%- set on_spark = target.type == 'spark' -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='append' if on_spark else 'merge',
        unique_key=none if on_spark else 'engagement_event_id',
        on_schema_change='fail',
        merge_clauses={
            'when_matched': [{'action': 'do_nothing'}],
            'when_not_matched': [{'action': 'insert', 'mode': 'by_name'}],
        },
        incremental_predicates=[] if on_spark else [
            'DBT_INTERNAL_DEST.occurred_date = DBT_INTERNAL_SOURCE.occurred_date',
        ],
        file_format='parquet' if on_spark else none,
        partition_by=['occurred_date'] if on_spark else none,
    )
}}

{#- On Spark (plain Parquet tables: merge needs Delta, Iceberg or Hudi) the same result by `append` of the
    events whose (engagement_event_id, occurred_date) the mart lacks: the copy already in the mart stays,
    as with DuckDB's merge. See docs/decisions.md. -#}
{#- A re-delivered event keeps the copy already in the mart (merge: do nothing when matched), which is the
    copy a full refresh keeps too (the first loaded). Matching on occurred_date as well lets DuckDB prune
    the mart to the dates of the new rows instead of scanning it: duplicates share their event time.
    The watermark is read before the query and inlined as a literal, so the loaded_at filter reaches the
    raw table scans (a subquery would not). -#}
{#- After the rejects: they read this mart's watermark before it takes the new rows (the same window). -#}
-- depends_on: {{ ref('fct_engagement_event_rejects') }}
{%- set watermark = none -%}
{%- if is_incremental() -%}
    {%- set watermark = engagement.incremental_watermark(this, 'loaded_at', var('engagement__lookback_hours')) -%}
{%- endif %}

with

new_events as (

    select * from {{ ref('int_engagement_events_unioned') }}
    where
        {{ engagement.loaded_after(watermark) }}
        {#- a row that cannot be placed goes to fct_engagement_event_rejects instead of failing the mart #}
        and reject_reason is null

),

deduped as (

    {{ engagement.dedupe_events('new_events') }}

),

not_in_mart as (

    select deduped.*
    from deduped
    {%- if on_spark and is_incremental() %}
    left anti join {{ this }} as mart
        on
            deduped.engagement_event_id = mart.engagement_event_id
            and deduped.occurred_date = mart.occurred_date
    {%- endif %}

),

final as (

    select
        engagement_event_id,
        source_vendor,
        source_table,
        source_event_id,
        source_event_name,
        event_type,
        event_category,
        channel,
        occurred_at,
        occurred_date,
        contact_key,
        email_sha256,
        vendor_user_id,
        device_id,
        campaign_id,
        campaign_name,
        message_id,
        message_name,
        flow_id,
        flow_name,
        segment_name,
        variant,
        link_url,
        bounce_type,
        bounce_code,
        device_type,
        country_code,
        is_machine_event,
        properties,
        loaded_at
    from not_in_mart

)

select * from final
