{#- Every Sailthru email event table has the same staging shape (campaign_* and triggered_* differ only in
    which columns they carry), so one macro types them all; a column a table lacks is NULL. -#}
{% macro sailthru_email_event_columns() -%}
    {{ return([
        'event_id', 'message_id', 'campaign_id', 'template_id', 'flow_id', 'list_id', 'list_name', 'client_id',
        'profile_id', 'email_md5', 'email_sha256', 'event_time', 'send_time', 'signup_time', 'subject',
        'engagement', 'browser', 'count', 'ip', 'ip_type', 'is_real_open', 'is_real_click', 'user_agent',
        'index', 'url', 'url_count', 'message_type', 'reason_log', 'is_basic',
    ]) }}
{%- endmacro %}

{% macro stg_sailthru_email_event(table_name) -%}
with

source as (

    {{ engagement.raw_source('sailthru', table_name, engagement.sailthru_email_event_columns(),
        partitions=['dt', 'client_id']) }}

),

renamed as (

    select
        '{{ table_name }}' as source_table,
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
{%- endmacro %}

{#- Lookups: one row per client and key, from the newest snapshot (dt, then hr) that lists the key. -#}
{% macro stg_sailthru_lookup(table_name, key, columns, time_columns=[]) -%}
{%- set time_names = {
    'create_time': 'created_at', 'modify_time': 'modified_at', 'schedule_time': 'scheduled_at',
    'start_time': 'started_at'} -%}
with

source as (

    {{ engagement.raw_source('sailthru', table_name, columns, partitions=['dt', 'hr', 'client_id']) }}

),

snapshots as (

    select
        *,
        coalesce(nullif(trim(client_id), ''), _part_client_id) as snapshot_client_id,
        {{ engagement.partition_date('_part_dt') }} as snapshot_date,
        coalesce({{ engagement.try_cast('_part_hr', dbt.type_int()) }}, 0) as snapshot_hour
    from source

),

latest as (

    {#- the newest row per key across ALL snapshots: an hourly export need not list every campaign, so a
        key missing from the newest snapshot keeps the row of the last snapshot that listed it -#}
    select *
    from snapshots
    qualify
        row_number() over (
            partition by snapshot_client_id, {{ key }}
            order by snapshot_date desc, snapshot_hour desc, _loaded_at desc, _source_uri desc, _source_row desc
        ) = 1

),

renamed as (

    select
        {%- for column in columns %}
        {%- if column in time_columns %}
        {{ engagement.text_to_utc_timestamp(column, 'engagement__sailthru_timezone') }}
            as {{ time_names.get(column, column ~ '_at') }},
        {%- elif column == 'client_id' %}
        snapshot_client_id as client_id,
        {%- else %}
        nullif(trim({{ column }}), '') as {{ column }},
        {%- endif %}
        {%- endfor %}
        _extra_fields as extra_properties,
        snapshot_date,
        snapshot_hour,
        _loaded_at as loaded_at

    from latest

)

select * from renamed
{%- endmacro %}

{#- Campaign, template and lifecycle-flow names from Sailthru's lookups, or zero rows when Sailthru is off. -#}
{% macro sailthru_campaign_lookups() -%}
    {%- if var('engagement__using_sailthru') -%}
    select
        'sailthru' as source_vendor,
        'campaign' as campaign_kind,
        campaign_id,
        name as campaign_name,
        subject,
        created_at
    from {{ ref('stg_sailthru__campaign') }}
    union all
    select
        'sailthru' as source_vendor,
        'campaign' as campaign_kind,
        'template:' || template_id as campaign_id,
        name as campaign_name,
        subject,
        created_at
    from {{ ref('stg_sailthru__template') }}
    union all
    select
        'sailthru' as source_vendor,
        'flow' as campaign_kind,
        flow_id as campaign_id,
        name as campaign_name,
        cast(null as {{ dbt.type_string() }}) as subject,
        created_at
    from {{ ref('stg_sailthru__lifecycle_optimizer_flow') }}
    {%- else -%}
    select
        cast(null as {{ dbt.type_string() }}) as source_vendor,
        cast(null as {{ dbt.type_string() }}) as campaign_kind,
        cast(null as {{ dbt.type_string() }}) as campaign_id,
        cast(null as {{ dbt.type_string() }}) as campaign_name,
        cast(null as {{ dbt.type_string() }}) as subject,
        cast(null as {{ dbt.type_timestamp() }}) as created_at
    where 1 = 0
    {%- endif -%}
{%- endmacro %}
