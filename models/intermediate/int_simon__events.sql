{{ config(enabled=var('engagement__using_simon')) }}

with

events as (

    select * from {{ ref('stg_simon__flow_events') }}

),

keyed as (

    {#- the document: "The file will include, for each contact, one entry for the data feed and one for each
        applicable flow action." The entry (no action) is the membership change (operation add / remove); a
        row with an action is a flow step, mapped by the seed's `action:` prefix row. -#}
    select
        *,
        case when action is null then operation else {{ dbt.concat(["'action:'", 'action']) }} end as map_key
    from events

),

mapped as (

    select
        keyed.*,
        event_map.event_type,
        event_map_types.event_category,
        nullif(event_map.channel, '') as channel
    from keyed
    {{ engagement.event_map_join(
        'keyed.map_key', 'simon', ref('engagement_event_map'), ref('engagement_event_types')) }}

),

final as (

    select
        {{ engagement.canonical_select({
            'engagement_event_id': engagement.surrogate_key(["'simon'", 'row_hash']),
            'source_vendor': "'simon'",
            'source_table': "'simon__flow_events'",
            'source_event_name': 'coalesce(action, operation)',
            'event_type': 'event_type',
            'event_category': 'event_category',
            'channel': 'channel',
            'occurred_at': 'occurred_at',
            'occurred_date': 'cast(occurred_at as date)',
            'contact_key': "coalesce(email_sha256, 'simon:' || other_identifier)",
            'email_sha256': 'email_sha256',
            'flow_id': 'flow_id',
            'flow_name': 'flow_name',
            'segment_name': 'segment_name',
            'variant': 'variant',
            'is_machine_event': 'false',
            'properties': engagement.json_merge('extra_properties', engagement.json_object_from([
                ('action', 'action'), ('operation', 'operation')])),
            'loaded_at': 'loaded_at',
            'source_uri': 'source_uri',
            'source_row': 'source_row',
            'reject_reason': engagement.reject_reason('occurred_at', 'event_type'),
        }) }}
    from mapped

)

select * from final
