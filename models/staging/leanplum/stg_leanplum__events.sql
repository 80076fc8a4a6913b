{# properties members that get a mart column; the rest (name, event_type, email_id, ...) stay passthrough #}
{%- set mapped_properties = [
    'user_id', 'device_id', 'time', 'campaign_id', 'campaign_name', 'message_id', 'channel', 'link_url',
    'variant_id',
] -%}
{#- the members read below, all from one parse of `properties`: `prop.<member>` is a member's text -#}
{%- set read_properties = [
    'user_id', 'device_id', 'time', 'name', 'campaign_id', 'campaign_name', 'message_id', 'message_occurrence_id',
    'channel', 'event_type', 'email_id', 'link_url', 'link_id', 'ab_test_id', 'variant_id',
] -%}
{%- set prop = engagement.json_texts_members('property_texts', read_properties) -%}

with

source as (

    {{ engagement.raw_source('leanplum', 'events', ['event_id', 'name', 'properties'], partitions=['dt']) }}

),

parsed as (

    select
        *,
        {{ engagement.json_texts('properties', read_properties) }} as property_texts
    from source

),

renamed as (

    select
        event_id,
        name as event_name,
        trim(replace(name, '(Leanplum)', '')) as event_name_short,
        nullif({{ prop.user_id }}, '') as user_id,
        nullif({{ prop.device_id }}, '') as device_id,
        {# the JSON feed carries no e-mail; the column keeps both Leanplum stagings one shape #}
        cast(null as {{ dbt.type_string() }}) as email_sha256,
        {{ engagement.text_or_epoch_to_timestamp(
            prop.time, 'engagement__leanplum_timezone') }} as occurred_at,
        nullif({{ prop.name }}, '') as object_name,
        nullif({{ prop.campaign_id }}, '0') as campaign_id,
        nullif({{ prop.campaign_name }}, '') as campaign_name,
        nullif({{ prop.message_id }}, '0') as message_id,
        nullif({{ prop.message_occurrence_id }}, '') as message_occurrence_id,
        nullif({{ prop.channel }}, '') as channel_name,
        nullif({{ prop.event_type }}, '') as leanplum_event_type,
        nullif({{ prop.email_id }}, '') as email_id,
        nullif({{ prop.link_url }}, '') as link_url,
        nullif({{ prop.link_id }}, '') as link_id,
        nullif({{ prop.ab_test_id }}, '0') as ab_test_id,
        nullif({{ prop.variant_id }}, '0') as variant_id,
        {{ engagement.json_merge(
            engagement.json_without_keys('properties', mapped_properties), '_extra_fields') }} as extra_properties,
        {{ engagement.partition_date('_part_dt') }} as partition_date,
        _source_uri as source_uri,
        _source_row as source_row,
        _loaded_at as loaded_at

    from parsed

)

select * from renamed
