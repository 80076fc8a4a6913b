{# properties members that get a mart column; the rest (name, event_type, email_id, ...) stay passthrough #}
{%- set mapped_properties = [
    'user_id', 'device_id', 'time', 'campaign_id', 'campaign_name', 'message_id', 'channel', 'link_url',
    'variant_id',
] -%}

with

source as (

    {{ engagement.raw_source('leanplum', 'events', ['event_id', 'name', 'properties'], partitions=['dt']) }}

),

renamed as (

    select
        event_id,
        name as event_name,
        trim(replace(name, '(Leanplum)', '')) as event_name_short,
        nullif({{ engagement.json_text('properties', 'user_id') }}, '') as user_id,
        nullif({{ engagement.json_text('properties', 'device_id') }}, '') as device_id,
        {# the JSON feed carries no e-mail; the column keeps both Leanplum stagings one shape #}
        cast(null as {{ dbt.type_string() }}) as email_sha256,
        {{ engagement.text_or_epoch_to_timestamp(
            engagement.json_text('properties', 'time'), 'engagement__leanplum_timezone') }} as occurred_at,
        nullif({{ engagement.json_text('properties', 'name') }}, '') as object_name,
        nullif({{ engagement.json_text('properties', 'campaign_id') }}, '0') as campaign_id,
        nullif({{ engagement.json_text('properties', 'campaign_name') }}, '') as campaign_name,
        nullif({{ engagement.json_text('properties', 'message_id') }}, '0') as message_id,
        nullif({{ engagement.json_text('properties', 'message_occurrence_id') }}, '') as message_occurrence_id,
        nullif({{ engagement.json_text('properties', 'channel') }}, '') as channel_name,
        nullif({{ engagement.json_text('properties', 'event_type') }}, '') as leanplum_event_type,
        nullif({{ engagement.json_text('properties', 'email_id') }}, '') as email_id,
        nullif({{ engagement.json_text('properties', 'link_url') }}, '') as link_url,
        nullif({{ engagement.json_text('properties', 'link_id') }}, '') as link_id,
        nullif({{ engagement.json_text('properties', 'ab_test_id') }}, '0') as ab_test_id,
        nullif({{ engagement.json_text('properties', 'variant_id') }}, '0') as variant_id,
        {{ engagement.json_merge(
            engagement.json_without_keys('properties', mapped_properties), '_extra_fields') }} as extra_properties,
        {{ engagement.partition_date('_part_dt') }} as partition_date,
        _source_uri as source_uri,
        _source_row as source_row,
        _loaded_at as loaded_at

    from source

)

select * from renamed
