{{ config(enabled=var('engagement__using_encharge')) }}

with

events as (

    select * from {{ ref('stg_encharge__events') }}

),

mapped as (

    {# value-carrying names (`added-tag-vip`) match their prefix row; the value after it is kept #}
    select
        events.*,
        event_map.event_type,
        event_map_types.event_category,
        nullif(event_map.channel, '') as channel,
        nullif(event_map.bounce_type, '') as bounce_type,
        nullif(event_map.event_value_name, '') as event_value_name,
        nullif(event_map.event_detail, '') as event_detail,
        case
            when event_map.match_type = 'prefix'
                then substring(events.event_name, length(event_map.source_event) + 1)
        end as event_value
    from events
    {{ engagement.event_map_join(
        'events.event_name', 'encharge', ref('engagement_event_map'), ref('engagement_event_types')) }}

),

final as (

    select
        {{ engagement.canonical_select({
            'engagement_event_id': engagement.surrogate_key(["'encharge'", 'event_hash']),
            'source_vendor': "'encharge'",
            'source_table': "'encharge__events'",
            'source_event_name': 'event_name',
            'event_type': 'event_type',
            'event_category': 'event_category',
            'channel': 'channel',
            'occurred_at': 'occurred_at',
            'occurred_date': 'cast(occurred_at as date)',
            'contact_key': "coalesce(email_sha256, 'encharge:' || user_id)",
            'email_sha256': 'email_sha256',
            'vendor_user_id': 'user_id',
            'message_id': 'email_id',
            'message_name': 'email_name',
            'flow_id': 'flow_id',
            'flow_name': 'flow_name',
            'link_url': 'url',
            'bounce_type': 'bounce_type',
            'is_machine_event': 'false',
            'properties': engagement.json_merge('extra_properties', engagement.json_object_from([
                ('type', 'event_kind'), ('event_value_name', 'event_value_name'), ('event_value', 'event_value'),
                ('event_detail', 'event_detail')])),
            'loaded_at': 'loaded_at',
            'source_uri': 'source_uri',
            'source_row': 'source_row',
            'reject_reason': engagement.reject_reason('occurred_at', 'event_type'),
        }) }}
    from mapped

)

select * from final
