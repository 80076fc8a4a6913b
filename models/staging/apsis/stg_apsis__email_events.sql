with

source as (

    {# attribute and tag columns (`gender (version_id: 491874)`) are not listed: they go to _extra_fields #}
    {{ engagement.raw_source(
        'apsis', 'email_events',
        ['activity_id', 'split_id', 'activity_name', 'split_activity_name', 'sender', 'subject', 'address',
         'variation', 'type', 'correlation_id', 'event_time', 'server_time', 'device', 'location', 'link_id',
         'link_url', 'link_title', 'bounce_code', 'unsubscribe_topic', 'abuse_section']) }}

),

typed as (

    select
        *,
        {{ engagement.try_cast('trim(event_time)', dbt.type_bigint()) }} as event_time_ms,
        {{ engagement.try_cast('trim(server_time)', dbt.type_bigint()) }} as server_time_ms
    from source

),

renamed as (

    select
        nullif(trim(correlation_id), '') as correlation_id,
        upper(trim(type)) as event_type_name,
        nullif(trim(activity_id), '') as activity_id,
        nullif(trim(split_id), '') as split_id,
        activity_name,
        split_activity_name,
        sender,
        subject,
        {{ engagement.email_sha256('address') }} as email_sha256,
        nullif(trim(variation), '') as variation,
        {# the document: event_time may be 0, and "The dates in 1970 are possible when the event source
           specified the event time as 0 since they're interpreted as Unix epoch": any time before 1971
           (ms < 31536000000) means unknown, so server_time instead #}
        case
            when event_time_ms is null or event_time_ms < 31536000000
                then {{ engagement.epoch_to_timestamp('server_time_ms', 'ms') }}
            else {{ engagement.epoch_to_timestamp('event_time_ms', 'ms') }}
        end as occurred_at,
        case
            when event_time_ms >= 31536000000 then {{ engagement.epoch_to_timestamp('event_time_ms', 'ms') }}
        end as event_reported_at,
        {{ engagement.epoch_to_timestamp('server_time_ms', 'ms') }} as server_received_at,
        nullif(trim(device), '') as device,
        case
            when {{ engagement.regex_full_match('upper(substring(trim(location), 1, 2))', '[A-Z]{2}') }}
                then upper(substring(trim(location), 1, 2))
        end as country_code,
        nullif(trim(location), '') as location,
        nullif(trim(link_id), '') as link_id,
        nullif(trim(link_url), '') as link_url,
        link_title,
        {{ engagement.try_cast('trim(bounce_code)', dbt.type_int()) }} as bounce_code,
        nullif(trim(unsubscribe_topic), '') as unsubscribe_topic,
        nullif(trim(abuse_section), '') as abuse_section,
        _extra_fields as extra_properties,
        _source_uri as source_uri,
        _source_row as source_row,
        _loaded_at as loaded_at

    from typed

)

select * from renamed
