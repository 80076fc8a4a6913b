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

ranked as (

    select
        *,
        row_number() over (
            partition by snapshot_client_id, {{ key }}
            order by snapshot_date desc, snapshot_hour desc, _loaded_at desc, _source_uri desc, _source_row desc
        ) as key_rank
    from snapshots

),

{#- the newest row per key across ALL snapshots: an hourly export need not list every campaign, so a
    key missing from the newest snapshot keeps the row of the last snapshot that listed it (no QUALIFY:
    Spark has none, so the rank is a column and the filter follows) -#}
latest as (

    select *
    from ranked
    where key_rank = 1

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
