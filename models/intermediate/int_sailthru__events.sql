{{ config(enabled=var('engagement__using_sailthru')) }}

with

email_events as (

    {#- the ten e-mail tables share one staging shape (columns a table lacks are NULL) #}
    select * from {{ ref('stg_sailthru__campaign_send') }}

    union all

    select * from {{ ref('stg_sailthru__campaign_open') }}

    union all

    select * from {{ ref('stg_sailthru__campaign_click') }}

    union all

    select * from {{ ref('stg_sailthru__campaign_bounce') }}

    union all

    select * from {{ ref('stg_sailthru__campaign_unsubscribe') }}

    union all

    select * from {{ ref('stg_sailthru__triggered_send') }}

    union all

    select * from {{ ref('stg_sailthru__triggered_open') }}

    union all

    select * from {{ ref('stg_sailthru__triggered_click') }}

    union all

    select * from {{ ref('stg_sailthru__triggered_bounce') }}

    union all

    select * from {{ ref('stg_sailthru__triggered_unsubscribe') }}

),

email_mapped as (

    select
        email_events.*,
        event_map.event_type,
        event_map_types.event_category,
        nullif(event_map.channel, '') as channel,
        smtp.bounce_type,
        {{ engagement.regex_group('email_events.reason_log', '\\b([45]\\.[0-9]{1,3}\\.[0-9]{1,3})\\b') }}
            as smtp_status
    from email_events
    {{ engagement.event_map_join(
        'email_events.source_table', 'sailthru', ref('engagement_event_map'), ref('engagement_event_types')) }}
    left join {{ ref('smtp_status_classes') }} as smtp
        on
            cast(smtp.status_class as {{ dbt.type_string() }})
            = {{ engagement.regex_group('email_events.reason_log', '\\b([45])\\.[0-9]{1,3}\\.[0-9]{1,3}\\b') }}

),

email_final as (

    select
        {{ engagement.canonical_select({
            'engagement_event_id': "case when event_id is not null then "
                ~ engagement.surrogate_key(["'sailthru'", 'event_id'])
                ~ " else " ~ engagement.surrogate_key(
                    ["'sailthru'", 'source_table', 'message_id', 'occurred_at',
                     "case when event_type = 'clicked' then url end"])
                ~ " end",
            'source_vendor': "'sailthru'",
            'source_table': "'sailthru__' || source_table",
            'source_event_id': 'event_id',
            'source_event_name': 'source_table',
            'event_type': 'event_type',
            'event_category': 'event_category',
            'channel': 'channel',
            'occurred_at': 'occurred_at',
            'occurred_date': 'cast(occurred_at as date)',
            'contact_key': "coalesce(email_sha256, 'sailthru:' || profile_id)",
            'email_sha256': 'email_sha256',
            'vendor_user_id': 'profile_id',
            'campaign_id': "coalesce(campaign_id, 'template:' || template_id)",
            'message_id': 'message_id',
            'flow_id': 'flow_id',
            'link_url': 'url',
            'bounce_type': 'bounce_type',
            'bounce_code': 'smtp_status',
            'is_machine_event': "case when event_type = 'opened' then coalesce(not is_real_open, false)"
                ~ " when event_type = 'clicked' then coalesce(not is_real_click, false) else false end",
            'properties': engagement.json_merge('extra_properties', engagement.json_object_from([
                ('client_id', 'client_id'), ('template_id', 'template_id'), ('list_id', 'list_id'),
                ('list_name', 'list_name'), ('email_md5', 'email_md5'), ('sent_at', 'cast(sent_at as ' ~ dbt.type_string() ~ ')'),
                ('signed_up_at', 'cast(signed_up_at as ' ~ dbt.type_string() ~ ')'), ('subject', 'subject'),
                ('engagement', 'engagement_level'), ('browser', 'browser'), ('count', 'open_count'),
                ('ip', 'ip'), ('ip_type', 'ip_type'), ('user_agent', 'user_agent'), ('index', 'link_index'),
                ('url_count', 'url_count'), ('message_type', 'message_type'), ('reason_log', 'reason_log'),
                ('is_basic', 'is_basic'), ('is_real_open', 'is_real_open'), ('is_real_click', 'is_real_click'),
            ])),
            'loaded_at': 'loaded_at',
            'source_uri': 'source_uri',
            'source_row': 'source_row',
            'reject_reason': engagement.reject_reason('occurred_at', 'event_type', 'coalesce(event_id, message_id)'),
        }) }}
    from email_mapped

),

mobile_events as (

    select
        mobile.*,
        event_map.event_type,
        event_map_types.event_category,
        nullif(event_map.channel, '') as channel,
        nullif(event_map.bounce_type, '') as bounce_type
    from {{ ref('stg_sailthru__mobile_notifications') }} as mobile
    {{ engagement.event_map_join(
        "'mobile_notifications:' || mobile.status", 'sailthru',
        ref('engagement_event_map'), ref('engagement_event_types')) }}

),

mobile_final as (

    select
        {{ engagement.canonical_select({
            'engagement_event_id': "case when event_id is not null then "
                ~ engagement.surrogate_key(["'sailthru'", 'event_id'])
                ~ " else " ~ engagement.surrogate_key(
                    ["'sailthru'", 'source_table', 'device_id', 'occurred_at', 'status', 'notification_type'])
                ~ " end",
            'source_vendor': "'sailthru'",
            'source_table': "'sailthru__mobile_notifications'",
            'source_event_id': 'event_id',
            'source_event_name': 'status',
            'event_type': 'event_type',
            'event_category': 'event_category',
            'channel': 'channel',
            'occurred_at': 'occurred_at',
            'occurred_date': 'cast(occurred_at as date)',
            'contact_key': "'sailthru:' || profile_id",
            'vendor_user_id': 'profile_id',
            'device_id': 'device_id',
            'bounce_type': 'bounce_type',
            'device_type': 'platform',
            'is_machine_event': 'false',
            'properties': engagement.json_merge('extra_properties', engagement.json_object_from([
                ('client_id', 'client_id'), ('app_id', 'app_id'), ('type', 'notification_type'),
                ('user_id', 'user_id'), ('title', 'title'),
            ])),
            'loaded_at': 'loaded_at',
            'source_uri': 'source_uri',
            'source_row': 'source_row',
            'reject_reason': engagement.reject_reason('occurred_at', 'event_type'),
        }) }}
    from mobile_events

),

final as (

    select * from email_final
    union all
    select * from mobile_final

)

select * from final
