{#- Sailthru `triggered_open` on the shape all ten e-mail event tables share (int_sailthru__events unions them):
    every column any of them carries, NULL where this table lacks it. -#}
with

source as (

    {{ engagement.raw_source(
        'sailthru', 'triggered_open',
        [
            'event_id', 'message_id', 'campaign_id', 'template_id', 'flow_id', 'list_id', 'list_name', 'client_id',
            'profile_id', 'email_md5', 'email_sha256', 'event_time', 'send_time', 'signup_time', 'subject',
            'engagement', 'browser', 'count', 'ip', 'ip_type', 'is_real_open', 'is_real_click', 'user_agent',
            'index', 'url', 'url_count', 'message_type', 'reason_log', 'is_basic',
        ],
        partitions=['dt', 'client_id']) }}

),

renamed as (

    select
        'triggered_open' as source_table,
        nullif(trim(event_id), '') as event_id,
        nullif(trim(message_id), '') as message_id,
        nullif(trim(campaign_id), '') as campaign_id,
        nullif(trim(template_id), '') as template_id,
        nullif(trim(flow_id), '') as flow_id,
        nullif(trim(list_id), '') as list_id,
        list_name,
        coalesce(nullif(trim(client_id), ''), _part_client_id) as client_id,
        nullif(trim(profile_id), '') as profile_id,
        {{ engagement.email_sha256('email_sha256') }} as email_sha256,
        nullif(lower(trim(email_md5)), '') as email_md5,
        {{ engagement.text_to_utc_timestamp('event_time', 'engagement__sailthru_timezone') }} as occurred_at,
        {{ engagement.text_to_utc_timestamp('send_time', 'engagement__sailthru_timezone') }} as sent_at,
        {{ engagement.text_to_utc_timestamp('signup_time', 'engagement__sailthru_timezone') }} as signed_up_at,
        subject,
        engagement as engagement_level,
        browser,
        {{ engagement.try_cast('count', dbt.type_int()) }} as open_count,
        ip,
        ip_type,
        {{ engagement.text_to_boolean('is_real_open') }} as is_real_open,
        {{ engagement.text_to_boolean('is_real_click') }} as is_real_click,
        user_agent,
        {{ engagement.try_cast('index', dbt.type_int()) }} as link_index,
        nullif(trim(url), '') as url,
        {{ engagement.try_cast('url_count', dbt.type_int()) }} as url_count,
        message_type,
        reason_log,
        {{ engagement.text_to_boolean('is_basic') }} as is_basic,
        _extra_fields as extra_properties,
        {{ engagement.partition_date('_part_dt') }} as partition_date,
        _source_uri as source_uri,
        _source_row as source_row,
        _loaded_at as loaded_at

    from source

)

select * from renamed
