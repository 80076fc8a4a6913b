with

source as (

    {{ engagement.raw_source('encharge', 'events', ['event', 'type', 'properties', 'user', 'timestamp']) }}

),

renamed as (

    select
        {# no event id and retries repeat events: the identity is a hash of the whole event #}
        {{ engagement.surrogate_key([
            'event', 'type', engagement.json_text(adapter.quote('user'), 'id'), 'trim(' ~ adapter.quote('timestamp') ~ ')', 'properties']) }}
            as event_hash,
        event as event_name,
        type as event_kind,
        {{ engagement.json_text(adapter.quote('user'), 'id') }} as user_id,
        {{ engagement.email_sha256(engagement.json_text(adapter.quote('user'), 'email')) }} as email_sha256,
        {{ engagement.epoch_to_timestamp(
            engagement.try_cast('trim(' ~ adapter.quote('timestamp') ~ ')', dbt.type_bigint()), 'ms') }}
            as occurred_at,
        {{ engagement.json_text('properties', 'emailId') }} as email_id,
        {{ engagement.json_text('properties', 'emailName') }} as email_name,
        {{ engagement.json_text('properties', 'flowId') }} as flow_id,
        {{ engagement.json_text('properties', 'flowName') }} as flow_name,
        {{ engagement.json_text('properties', 'url') }} as url,
        {# clear-text email stays here: the user object goes on without it #}
        {{ engagement.json_merge(
            engagement.json_without_keys('properties', ['emailId', 'emailName', 'flowId', 'flowName', 'url']),
            engagement.json_merge(
                '_extra_fields',
                engagement.json_object_from([('user', engagement.json_without_keys(adapter.quote('user'), ['id', 'email']))])
            )) }} as extra_properties,
        _source_uri as source_uri,
        _source_row as source_row,
        _loaded_at as loaded_at

    from source

)

select * from renamed
