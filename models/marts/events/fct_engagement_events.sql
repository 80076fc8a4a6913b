{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='engagement_event_id',
        on_schema_change='fail',
        merge_clauses={
            'when_matched': [{'action': 'do_nothing'}],
            'when_not_matched': [{'action': 'insert', 'mode': 'by_name'}],
        },
        incremental_predicates=[
            'DBT_INTERNAL_DEST.occurred_date = DBT_INTERNAL_SOURCE.occurred_date',
        ],
    )
}}

{#- A re-delivered event keeps the copy already in the mart (merge: do nothing when matched), which is the
    copy a full refresh keeps too (the first loaded). Matching on occurred_date as well lets DuckDB prune
    the mart to the dates of the new rows instead of scanning it: duplicates share their event time.
    The watermark is read before the query and inlined as a literal, so the loaded_at filter reaches the
    raw table scans (a subquery would not). -#}
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
    from deduped

)

select * from final
