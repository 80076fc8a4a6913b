{#- One row per vendor campaign or flow. Names come from the vendor's lookups where it has them
    (Sailthru campaign / template / lifecycle flow, latest snapshot), else from the events themselves
    (Leanplum, APSIS activities, Encharge and Simon flows). -#}
{%- set on_spark = target.type == 'spark' -%}
{{
    config(
        materialized='table' if on_spark else 'incremental',
        incremental_strategy=none if on_spark else 'delete+insert',
        unique_key=none if on_spark else 'campaign_key',
        on_schema_change='fail',
    )
}}

{#- Incremental on DuckDB: the campaigns and flows of the fact rows loaded since this mart's newest
    last_loaded_at (minus the lookback), and those whose lookup row the mart does not show as it is now, are
    rebuilt from ALL their events and their lookup and replace their rows. A lookup key never leaves the lookups
    (the newest row per key across all snapshots), so no row disappears. A full refresh (and Spark, where the
    mart is a table) builds every row. See docs/decisions.md (issue 17). -#}
{%- set watermark = none -%}
{%- if is_incremental() -%}
    {%- set watermark = engagement.incremental_watermark(this, 'last_loaded_at', var('engagement__lookback_hours')) -%}
{%- endif %}

with

{#- an incremental run reads the events twice, filtered each time (not materialized: DuckDB would otherwise copy
    the whole fact once to serve both reads) #}
events as {% if is_incremental() %}not materialized {% endif %}(

    select
        source_vendor,
        campaign_id,
        campaign_name,
        flow_id,
        flow_name,
        occurred_at,
        loaded_at
    from {{ ref('fct_engagement_events') }}

),

event_campaigns as {% if is_incremental() %}not materialized {% endif %}(

    select
        source_vendor,
        'campaign' as campaign_kind,
        campaign_id,
        campaign_name,
        occurred_at,
        loaded_at
    from events
    where campaign_id is not null

    union all

    select
        source_vendor,
        'flow' as campaign_kind,
        coalesce(flow_id, flow_name) as campaign_id,
        flow_name as campaign_name,
        occurred_at,
        loaded_at
    from events
    where coalesce(flow_id, flow_name) is not null

),

all_lookups as (

    select * from {{ ref('int_campaign_lookups') }}

),

{% if is_incremental() -%}
affected as (

    select
        source_vendor,
        campaign_kind,
        campaign_id
    from event_campaigns
    where {{ engagement.loaded_after(watermark) }}

    union

    {#- a lookup the mart does not show as it is now (new, renamed, ...); one without a name always, as the mart
        then shows the events' name #}
    select
        all_lookups.source_vendor,
        all_lookups.campaign_kind,
        all_lookups.campaign_id
    from all_lookups
    left join {{ this }} as mart
        on
            all_lookups.source_vendor = mart.source_vendor
            and all_lookups.campaign_kind = mart.campaign_kind
            and all_lookups.campaign_id = mart.campaign_id
    where
        mart.campaign_key is null
        or all_lookups.campaign_name is null
        or all_lookups.campaign_name is distinct from mart.campaign_name
        or all_lookups.subject is distinct from mart.subject
        or all_lookups.created_at is distinct from mart.created_at

),

{% endif -%}
event_summary as (

    select
        event_campaigns.source_vendor,
        event_campaigns.campaign_kind,
        event_campaigns.campaign_id,
        max(event_campaigns.campaign_name) as campaign_name,
        min(event_campaigns.occurred_at) as first_event_at,
        max(event_campaigns.occurred_at) as last_event_at,
        count(*) as event_count,
        max(event_campaigns.loaded_at) as last_loaded_at
    from event_campaigns
    {%- if is_incremental() %}
    inner join affected
        on
            event_campaigns.source_vendor = affected.source_vendor
            and event_campaigns.campaign_kind = affected.campaign_kind
            and event_campaigns.campaign_id = affected.campaign_id
    {%- endif %}
    group by 1, 2, 3

),

lookups as (

    select all_lookups.*
    from all_lookups
    {%- if is_incremental() %}
    inner join affected
        on
            all_lookups.source_vendor = affected.source_vendor
            and all_lookups.campaign_kind = affected.campaign_kind
            and all_lookups.campaign_id = affected.campaign_id
    {%- endif %}

),

final as (

    select
        {{ engagement.surrogate_key([
            'coalesce(event_summary.source_vendor, lookups.source_vendor)',
            'coalesce(event_summary.campaign_kind, lookups.campaign_kind)',
            'coalesce(event_summary.campaign_id, lookups.campaign_id)']) }} as campaign_key,
        coalesce(event_summary.source_vendor, lookups.source_vendor) as source_vendor,
        coalesce(event_summary.campaign_kind, lookups.campaign_kind) as campaign_kind,
        coalesce(event_summary.campaign_id, lookups.campaign_id) as campaign_id,
        coalesce(lookups.campaign_name, event_summary.campaign_name) as campaign_name,
        lookups.subject,
        lookups.created_at,
        event_summary.first_event_at,
        event_summary.last_event_at,
        coalesce(event_summary.event_count, 0) as event_count,
        event_summary.last_loaded_at
    from event_summary
    full outer join lookups
        on
            event_summary.source_vendor = lookups.source_vendor
            and event_summary.campaign_kind = lookups.campaign_kind
            and event_summary.campaign_id = lookups.campaign_id

)

select * from final
