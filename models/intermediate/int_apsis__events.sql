{{ config(enabled=var('engagement__using_apsis')) }}

with

events as (

    select * from {{ ref('stg_apsis__email_events') }}

),

{# each code of each range, one row per code, so the events take their range by an equality join: a range
    join sorted every APSIS event with all its columns (1.7 M events at 10 M: 4.1 s of CPU). A code in two
    ranges, or in none, gives the rows the range join gives. The document's codes have four digits; the
    seed's check keeps a range below 10,000 codes. #}
code_ranges as (

    select
        {{ engagement.unnest_integers('code_from', 'code_to') }} as bounce_code,
        event_type,
        bounce_type
    from {{ ref('apsis_bounce_codes') }}

),

coded as (

    {#- a BOUNCED row takes its event_type from its code's range: the document calls 5000-5999
        "Informational (out of office, auto reply etc.)", which the seed maps to auto_replied, not bounced -#}
    select
        events.*,
        coalesce(
            case when events.event_type_name = 'BOUNCED' then bounce_codes.event_type end,
            event_map.event_type
        ) as mapped_event_type,
        nullif(event_map.channel, '') as channel,
        nullif(bounce_codes.bounce_type, '') as code_bounce_type
    from events
    {{ engagement.event_map_join(
        'events.event_type_name', 'apsis', ref('engagement_event_map'), ref('engagement_event_types')) }}
    left join code_ranges as bounce_codes
        on events.bounce_code = bounce_codes.bounce_code

),

mapped as (

    select
        coded.*,
        coded.mapped_event_type as event_type,
        event_types.event_category,
        case when coded.mapped_event_type = 'bounced' then coded.code_bounce_type end as bounce_type
    from coded
    left join {{ ref('engagement_event_types') }} as event_types
        on coded.mapped_event_type = event_types.event_type

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
            'bounce_type': 'bounce_type',
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
            'reject_reason': engagement.reject_reason('occurred_at', 'event_type', 'correlation_id'),
        }) }}
    from mapped

)

select * from final
