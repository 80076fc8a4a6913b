{#- One row per vendor campaign or flow. Names come from the vendor's lookups where it has them
    (Sailthru campaign / template / lifecycle flow, latest snapshot), else from the events themselves
    (Leanplum, APSIS activities, Encharge and Simon flows). -#}
with

events as (

    select * from {{ ref('fct_engagement_events') }}

),

event_campaigns as (

    select
        source_vendor,
        'campaign' as campaign_kind,
        campaign_id,
        campaign_name,
        occurred_at
    from events
    where campaign_id is not null

    union all

    select
        source_vendor,
        'flow' as campaign_kind,
        coalesce(flow_id, flow_name) as campaign_id,
        flow_name as campaign_name,
        occurred_at
    from events
    where coalesce(flow_id, flow_name) is not null

),

event_summary as (

    select
        source_vendor,
        campaign_kind,
        campaign_id,
        max(campaign_name) as campaign_name,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at,
        count(*) as event_count
    from event_campaigns
    group by 1, 2, 3

),

lookups as (

    select * from {{ ref('int_campaign_lookups') }}

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
        coalesce(event_summary.event_count, 0) as event_count
    from event_summary
    full outer join lookups
        on
            event_summary.source_vendor = lookups.source_vendor
            and event_summary.campaign_kind = lookups.campaign_kind
            and event_summary.campaign_id = lookups.campaign_id

)

select * from final
