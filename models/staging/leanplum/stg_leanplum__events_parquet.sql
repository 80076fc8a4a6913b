with

source as (

    {{ engagement.raw_source(
        'leanplum', 'events_parquet',
        ['schema_version', 'event_id', 'name', 'user_id', 'device_id', 'time', 'user_attributes',
         'user_attributes_numeric', 'AbTest', 'Campaign', 'Message'],
        partitions=['dt'], types=engagement.leanplum_parquet_types()) }}

),

renamed as (

    select
        event_id,
        name as event_name,
        trim(replace(name, '(Leanplum)', '')) as event_name_short,
        nullif(user_id, '') as user_id,
        nullif(device_id, '') as device_id,
        {{ engagement.email_sha256(engagement.map_value('user_attributes', 'email')) }} as email_sha256,
        {{ engagement.epoch_auto_to_timestamp('time') }} as occurred_at,
        coalesce(message.name, campaign.name, abtest.name) as object_name,
        cast(coalesce(message.campaign_id, campaign.id) as {{ dbt.type_string() }}) as campaign_id,
        coalesce(message.campaign_name, campaign.name) as campaign_name,
        cast(message.id as {{ dbt.type_string() }}) as message_id,
        message.message_occurrence_id,
        message.channel as channel_name,
        coalesce(message.event_type, campaign.event_type) as leanplum_event_type,
        message.email_id,
        message.link_url,
        message.link_id,
        cast(abtest.id as {{ dbt.type_string() }}) as ab_test_id,
        cast(abtest.variant_id as {{ dbt.type_string() }}) as variant_id,
        {# user_attributes pass through without the email, which is hashed above #}
        {{ engagement.json_merge(
            engagement.json_object_from([
                ('schema_version', 'schema_version'),
                ('name', 'coalesce(message.name, campaign.name, abtest.name)'),
                ('event_type', 'coalesce(message.event_type, campaign.event_type)'),
                ('message_occurrence_id', 'message.message_occurrence_id'),
                ('email_id', 'message.email_id'),
                ('link_id', 'message.link_id'),
                ('ab_test_id', 'abtest.id'),
                ('user_attributes', engagement.json_without_keys(engagement.to_json_text('user_attributes'), ['email'])),
                ('user_attributes_numeric', 'user_attributes_numeric'),
            ]),
            '_extra_fields') }} as extra_properties,
        {{ engagement.partition_date('_part_dt') }} as partition_date,
        _source_uri as source_uri,
        _source_row as source_row,
        _loaded_at as loaded_at

    from source

)

select * from renamed
