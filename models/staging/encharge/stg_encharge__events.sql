{#- the members read into columns below (and so left out of the passthrough), each document parsed once:
    `prop.<member>`, `usr.<member>` are their texts -#}
{%- set read_properties = ['emailId', 'emailName', 'flowId', 'flowName', 'url'] -%}
{%- set read_user = ['id', 'email'] -%}
{%- set prop = engagement.json_texts_members('property_texts', read_properties) -%}
{%- set usr = engagement.json_texts_members('user_texts', read_user) -%}

with

source as (

    {{ engagement.raw_source('encharge', 'events', ['event', 'type', 'properties', 'user', 'timestamp']) }}

),

parsed as (

    select
        *,
        {{ engagement.json_texts('properties', read_properties) }} as property_texts,
        {{ engagement.json_texts(adapter.quote('user'), read_user) }} as user_texts
    from source

),

renamed as (

    select
        {# no event id and retries repeat events: the identity is a hash of the whole event #}
        {{ engagement.surrogate_key([
            'event', 'type', usr.id, 'trim(' ~ adapter.quote('timestamp') ~ ')', 'properties']) }}
            as event_hash,
        event as event_name,
        type as event_kind,
        {{ usr.id }} as user_id,
        {{ engagement.email_sha256(usr.email) }} as email_sha256,
        {{ engagement.epoch_to_timestamp(
            engagement.try_cast('trim(' ~ adapter.quote('timestamp') ~ ')', dbt.type_bigint()), 'ms') }}
            as occurred_at,
        {{ prop.emailId }} as email_id,
        {{ prop.emailName }} as email_name,
        {{ prop.flowId }} as flow_id,
        {{ prop.flowName }} as flow_name,
        {{ prop.url }} as url,
        {# clear-text email stays here: the user object goes on without it #}
        {{ engagement.json_merge(
            engagement.json_without_keys('properties', read_properties),
            engagement.json_merge(
                '_extra_fields',
                engagement.json_object_from([('user', engagement.json_without_keys(adapter.quote('user'), read_user))])
            )) }} as extra_properties,
        _source_uri as source_uri,
        _source_row as source_row,
        _loaded_at as loaded_at

    from parsed

)

select * from renamed
