{#- A value (struct, map, list) as JSON text. -#}
{% macro to_json_text(expr) -%}
    {{ return(adapter.dispatch('to_json_text', 'engagement')(expr)) }}
{%- endmacro %}

{% macro default__to_json_text(expr) -%}
    cast(to_json({{ expr }}) as varchar)
{%- endmacro %}

{% macro spark__to_json_text(expr) -%}
    to_json({{ expr }})
{%- endmacro %}

{#- Column types of Leanplum's Parquet feed, for the typed empty relation before its first load. -#}
{% macro leanplum_parquet_types() -%}
    {{ return(adapter.dispatch('leanplum_parquet_types', 'engagement')()) }}
{%- endmacro %}

{% macro default__leanplum_parquet_types() -%}
    {{ return({
        'schema_version': 'integer',
        'time': 'bigint',
        'user_attributes': 'map(varchar, varchar)',
        'user_attributes_numeric': 'map(varchar, bigint)',
        'abtest': 'struct(name varchar, id bigint, variant_id bigint)',
        'campaign': 'struct(name varchar, id bigint, event_type varchar)',
        'message': 'struct(name varchar, id bigint, campaign_name varchar, campaign_id bigint, channel varchar,'
            ~ ' message_occurrence_id varchar, email_id varchar, link_url varchar, link_id varchar, event_type varchar)',
    }) }}
{%- endmacro %}

{#- The value of a map entry, NULL when absent. -#}
{% macro map_value(expr, key) -%}
    {{ return(adapter.dispatch('map_value', 'engagement')(expr, key)) }}
{%- endmacro %}

{% macro default__map_value(expr, key) -%}
    map_extract_value({{ expr }}, '{{ key }}')
{%- endmacro %}

{% macro spark__map_value(expr, key) -%}
    element_at({{ expr }}, '{{ key }}')
{%- endmacro %}

{% macro spark__leanplum_parquet_types() -%}
    {{ return({
        'schema_version': 'int',
        'time': 'bigint',
        'user_attributes': 'map<string, string>',
        'user_attributes_numeric': 'map<string, bigint>',
        'abtest': 'struct<name: string, id: bigint, variant_id: bigint>',
        'campaign': 'struct<name: string, id: bigint, event_type: string>',
        'message': 'struct<name: string, id: bigint, campaign_name: string, campaign_id: bigint, channel: string,'
            ~ ' message_occurrence_id: string, email_id: string, link_url: string, link_id: string, event_type: string>',
    }) }}
{%- endmacro %}
