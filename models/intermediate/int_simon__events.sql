{{ config(enabled=var('engagement__using_simon')) }}

with

events as (

    select * from {{ ref('stg_simon__flow_events') }}

),

mapped as (

    select
        events.*,
        event_map.event_type,
        event_map_types.event_category,
        nullif(event_map.channel, '') as channel
    from events
    {{ engagement.event_map_join('events.operation', 'simon') }}

),

final as (

    select
        {{ engagement.canonical_select({
            'engagement_event_id': engagement.surrogate_key(["'simon'", 'row_hash']),
            'source_vendor': "'simon'",
            'source_table': "'simon__flow_events'",
            'source_event_name': 'operation',
            'event_type': 'event_type',
            'event_category': 'event_category',
            'channel': 'channel',
            'occurred_at': 'occurred_at',
            'occurred_date': 'cast(occurred_at as date)',
            'contact_key': "coalesce(email_sha256, 'simon:' || other_identifier)",
            'email_sha256': 'email_sha256',
            'flow_name': 'flow_name',
            'segment_name': 'segment_name',
            'variant': 'variant',
            'is_machine_event': 'false',
            'properties': engagement.json_merge('extra_properties', engagement.json_object_from([
                ('action', 'action')])),
            'loaded_at': 'loaded_at',
            'source_uri': 'source_uri',
            'source_row': 'source_row',
        }) }}
    from mapped

)

select * from final
