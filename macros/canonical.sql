{#- The mart contract of fct_engagement_events, declared once: (column, type). Per-vendor adapters map
    what they have onto it and get typed NULLs for the rest (Fivetran's pattern). -#}
{% macro engagement_event_columns() -%}
    {{ return([
        ('engagement_event_id', dbt.type_string()),
        ('source_vendor', dbt.type_string()),
        ('source_table', dbt.type_string()),
        ('source_event_id', dbt.type_string()),
        ('source_event_name', dbt.type_string()),
        ('event_type', dbt.type_string()),
        ('event_category', dbt.type_string()),
        ('channel', dbt.type_string()),
        ('occurred_at', dbt.type_timestamp()),
        ('occurred_date', 'date'),
        ('contact_key', dbt.type_string()),
        ('email_sha256', dbt.type_string()),
        ('vendor_user_id', dbt.type_string()),
        ('device_id', dbt.type_string()),
        ('campaign_id', dbt.type_string()),
        ('campaign_name', dbt.type_string()),
        ('message_id', dbt.type_string()),
        ('message_name', dbt.type_string()),
        ('flow_id', dbt.type_string()),
        ('flow_name', dbt.type_string()),
        ('segment_name', dbt.type_string()),
        ('variant', dbt.type_string()),
        ('link_url', dbt.type_string()),
        ('bounce_type', dbt.type_string()),
        ('bounce_code', dbt.type_string()),
        ('device_type', dbt.type_string()),
        ('country_code', dbt.type_string()),
        ('is_machine_event', dbt.type_boolean()),
        ('properties', dbt.type_string()),
        ('loaded_at', dbt.type_timestamp()),
    ]) }}
{%- endmacro %}

{#- Columns the union carries beside the contract, to pick one row per event deterministically. -#}
{% macro engagement_event_lineage_columns() -%}
    {{ return([('source_uri', dbt.type_string()), ('source_row', dbt.type_bigint()),
        ('reject_reason', dbt.type_string())]) }}
{%- endmacro %}

{#- Select list onto the contract: `values` maps column -> SQL expression; missing ones are typed NULLs. -#}
{% macro canonical_select(values) -%}
    {%- set columns = engagement.engagement_event_columns() + engagement.engagement_event_lineage_columns() -%}
    {%- for name, type in columns %}
        cast({{ values.get(name, 'null') }} as {{ type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- Canonical event_type etc. for a vendor's event name: exact names, or the longest matching prefix for
    names that carry a value (Encharge `added-tag-{tag}`); the value after the prefix is returned too.
    The model passes the two seeds (`ref('engagement_event_map')`, `ref('engagement_event_types')`), so its
    inputs stay visible in its own file. -#}
{% macro event_map_join(name_expr, vendor, event_map, event_types, alias='event_map') -%}
    left join {{ event_map }} as {{ alias }}
        on
            {{ alias }}.source_vendor = '{{ vendor }}'
            {#- (a condition on the seed alone, so the join compares each event with the vendor's exact and
                prefix rows only, not its `structured` ones: Leanplum's 65 rows -> 25) #}
            and {{ alias }}.match_type in ('exact', 'prefix')
            and (
                ({{ alias }}.match_type = 'exact' and {{ alias }}.source_event = {{ name_expr }})
                or (
                    {{ alias }}.match_type = 'prefix'
                    and substring({{ name_expr }}, 1, length({{ alias }}.source_event)) = {{ alias }}.source_event
                    and length({{ name_expr }}) > length({{ alias }}.source_event)
                )
            )
    left join {{ event_types }} as {{ alias }}_types
        on {{ alias }}.event_type = {{ alias }}_types.event_type
{%- endmacro %}

{#- Why a row cannot be placed in the fact (NULL when it can): no usable event time, no vendor event key
    (for vendors whose identity is their own id), or a vendor event the seeds do not map. Such rows go to
    fct_engagement_event_rejects with their file and line instead of failing the mart. -#}
{% macro reject_reason(time_expr, event_type_expr, key_expr=none) -%}
    case
        when {{ time_expr }} is null then 'no_event_time'
        {%- if key_expr is not none %}
        when {{ key_expr }} is null then 'no_event_key'
        {%- endif %}
        when {{ event_type_expr }} is null then 'unmapped_event'
    end
{%- endmacro %}
