{{ config(enabled=var('engagement__using_leanplum')) }}

with

json_events as (

    select
        *,
        'leanplum__events' as source_table
    from {{ ref('stg_leanplum__events') }}

),

parquet_events as (

    select
        *,
        'leanplum__events_parquet' as source_table
    from {{ ref('stg_leanplum__events_parquet') }}

),

events as (

    select * from json_events
    union all
    select * from parquet_events

),

keyed as (

    {#- the document: `name` is a "Formatted event name based on channel and event type (e.g. '(Leanplum)
        Email Open')", so the structured fields decide (a message's channel and event_type, a campaign's
        event_type), in JSON and Parquet alike; the name without its `(Leanplum)` prefix is the fallback -#}
    select
        *,
        case
            when channel_name is not null and leanplum_event_type is not null
                then {{ dbt.concat(["'Message|'", 'trim(channel_name)', "'|'", 'trim(leanplum_event_type)']) }}
            when leanplum_event_type is not null and ab_test_id is null
                then {{ dbt.concat(["'Campaign|'", 'trim(leanplum_event_type)']) }}
        end as structured_key
    from events

),

mapped as (

    select
        keyed.*,
        coalesce(structured_map.event_type, event_map.event_type) as event_type,
        coalesce(structured_map_types.event_category, event_map_types.event_category) as event_category,
        nullif(coalesce(structured_map.channel, event_map.channel), '') as channel,
        nullif(coalesce(structured_map.event_detail, event_map.event_detail), '') as event_detail,
        case
            when structured_map.event_type is not null then 'structured'
            when event_map.event_type is not null then 'name'
        end as mapped_by
    from keyed
    left join {{ ref('engagement_event_map') }} as structured_map
        on
            structured_map.source_vendor = 'leanplum'
            and structured_map.match_type = 'structured'
            and keyed.structured_key = structured_map.source_event
    left join {{ ref('engagement_event_types') }} as structured_map_types
        on structured_map.event_type = structured_map_types.event_type
    {{ engagement.event_map_join(
        'keyed.event_name_short', 'leanplum', ref('engagement_event_map'), ref('engagement_event_types')) }}

),

final as (

    select
        {{ engagement.canonical_select({
            'engagement_event_id': engagement.surrogate_key(["'leanplum'", 'event_id']),
            'source_vendor': "'leanplum'",
            'source_table': 'source_table',
            'source_event_id': 'event_id',
            'source_event_name': 'event_name',
            'event_type': 'event_type',
            'event_category': 'event_category',
            'channel': 'channel',
            'occurred_at': 'occurred_at',
            'occurred_date': 'cast(occurred_at as date)',
            'contact_key': "case when email_sha256 is not null then email_sha256"
                ~ " when user_id is not null then 'leanplum:' || user_id"
                ~ " when device_id is not null then 'leanplum-device:' || device_id end",
            'email_sha256': 'email_sha256',
            'vendor_user_id': 'user_id',
            'device_id': 'device_id',
            'campaign_id': "case when ab_test_id is null then campaign_id end",
            'campaign_name': "case when event_type like 'campaign%' then object_name else campaign_name end",
            'message_id': 'message_id',
            'message_name': "case when message_id is not null then object_name end",
            'variant': 'variant_id',
            'link_url': 'link_url',
            'is_machine_event': 'false',
            'properties': engagement.json_merge('extra_properties', engagement.json_object_from([
                ('event_detail', 'event_detail'), ('mapped_by', 'mapped_by'),
                ('partition_date', 'cast(partition_date as ' ~ dbt.type_string() ~ ')')])),
            'loaded_at': 'loaded_at',
            'source_uri': 'source_uri',
            'source_row': 'source_row',
            'reject_reason': engagement.reject_reason('occurred_at', 'event_type', 'event_id'),
        }) }}
    from mapped

)

select * from final
