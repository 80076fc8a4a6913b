with

source as (

    {{ engagement.raw_source(
        'sailthru', 'mobile_notifications',
        ['event_id', 'client_id', 'app_id', 'event_time', 'type', 'status', 'platform', 'profile_id', 'device_id',
         'user_id', 'title'],
        partitions=['dt', 'client_id']) }}

),

renamed as (

    select
        'mobile_notifications' as source_table,
        nullif(trim(event_id), '') as event_id,
        coalesce(nullif(trim(client_id), ''), _part_client_id) as client_id,
        nullif(trim(app_id), '') as app_id,
        {{ engagement.text_to_utc_timestamp('event_time', 'engagement__sailthru_timezone') }} as occurred_at,
        lower(trim(type)) as notification_type,
        lower(trim(status)) as status,
        lower(trim(platform)) as platform,
        nullif(trim(profile_id), '') as profile_id,
        nullif(trim(device_id), '') as device_id,
        nullif(trim(user_id), '') as user_id,
        title,
        _extra_fields as extra_properties,
        {{ engagement.partition_date('_part_dt') }} as partition_date,
        _source_uri as source_uri,
        _source_row as source_row,
        _loaded_at as loaded_at

    from source

)

select * from renamed
