{{ config(enabled=var('engagement__using_apsis')) }}

with

events as (

    select * from {{ ref('stg_apsis__email_events') }}

),

mapped as (

    select
        events.*,
        event_map.event_type,
        event_map_types.event_category,
        nullif(event_map.channel, '') as channel,
        nullif(bounce_codes.bounce_type, '') as bounce_type
    from events
    {{ engagement.event_map_join('events.event_type_name', 'apsis') }}
    left join {{ ref('apsis_bounce_codes') }} as bounce_codes
        on events.bounce_code between bounce_codes.code_from and bounce_codes.code_to

),

final as (

    select
        {{ engagement.canonical_select({
            'engagement_event_id': engagement.surrogate_key(["'apsis'", 'correlation_id', 'event_type_name']),
            'source_vendor': "'apsis'",
            'source_table': "'apsis__email_events'",
            'source_event_id': 'correlation_id',
            'source_event_name': 'event_type_name',
            'event_type': 'event_type',
            'event_category': 'event_category',
            'channel': 'channel',
            'occurred_at': 'occurred_at',
            'occurred_date': 'cast(occurred_at as date)',
            'contact_key': 'email_sha256',
            'email_sha256': 'email_sha256',
            'campaign_id': 'activity_id',
            'campaign_name': 'activity_name',
            'message_id': 'split_id',
            'message_name': 'split_activity_name',
            'variant': 'variation',
            'link_url': 'link_url',
            'bounce_type': "case when event_type = 'bounced' then bounce_type end",
            'bounce_code': engagement.try_cast('bounce_code', dbt.type_string()),
            'device_type': 'device',
            'country_code': 'country_code',
            'is_machine_event': 'false',
            'properties': engagement.json_merge('extra_properties', engagement.json_object_from([
                ('sender', 'sender'), ('subject', 'subject'), ('location', 'location'), ('link_id', 'link_id'),
                ('link_title', 'link_title'), ('unsubscribe_topic', 'unsubscribe_topic'),
                ('abuse_section', 'abuse_section'),
                ('event_time', 'cast(event_reported_at as ' ~ dbt.type_string() ~ ')'),
                ('server_time', 'cast(server_received_at as ' ~ dbt.type_string() ~ ')'),
            ])),
            'loaded_at': 'loaded_at',
            'source_uri': 'source_uri',
            'source_row': 'source_row',
        }) }}
    from mapped

)

select * from final
