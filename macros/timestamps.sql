{#- Vendor time texts to UTC timestamps. The shapes differ: `2018-01-02 09:24:25`, `2024-02-14 21:42:15.520`,
    `2024-02-14T21:42:15.520Z`. A text ending in `Z` is UTC; a zone-less text is read in the zone named by
    the var `zone_var` (default `UTC`): only APSIS states its zone, so for Sailthru, Simon and Leanplum JSON
    the zone is an assumption the user can change (`engagement__<vendor>_timezone`, an IANA name). -#}
{% macro text_to_utc_timestamp(expr, zone_var=none) -%}
    {%- set parsed = engagement.try_cast(
        "replace(replace(trim(" ~ expr ~ "), 'T', ' '), 'Z', '')", dbt.type_timestamp()) -%}
    {%- set zone = engagement.vendor_timezone(zone_var) -%}
    {%- if zone == 'UTC' -%}
        {{ parsed }}
    {%- else -%}
        case
            when trim({{ expr }}) like '%Z' then {{ parsed }}
            else {{ engagement.local_to_utc(parsed, zone) }}
        end
    {%- endif -%}
{%- endmacro %}

{#- The zone a var names, checked so that it can be inlined as a literal: an IANA name or UTC. -#}
{% macro vendor_timezone(zone_var) -%}
    {%- set zone = 'UTC' if zone_var is none else (var(zone_var, 'UTC') | string | trim) -%}
    {%- if zone in ('', 'utc', 'Etc/UTC', 'Z') -%}{%- set zone = 'UTC' -%}{%- endif -%}
    {%- if not modules.re.fullmatch('[A-Za-z][A-Za-z0-9_+/-]{0,63}', zone) -%}
        {{ exceptions.raise_compiler_error(
            'var ' ~ zone_var ~ ' must be an IANA time zone name such as UTC or Europe/Stockholm, got '
            ~ (zone | tojson)) }}
    {%- endif -%}
    {{ return(zone) }}
{%- endmacro %}

{#- A zone-less local timestamp in `zone` as a UTC timestamp. -#}
{% macro local_to_utc(expr, zone) -%}
    {{ return(adapter.dispatch('local_to_utc', 'engagement')(expr, zone)) }}
{%- endmacro %}

{% macro default__local_to_utc(expr, zone) -%}
    cast(timezone('UTC', timezone('{{ zone }}', {{ expr }})) as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro spark__local_to_utc(expr, zone) -%}
    to_utc_timestamp({{ expr }}, '{{ zone }}')
{%- endmacro %}

{#- An integer epoch whose unit is not documented (Leanplum Parquet `time`): above 1e12 it is ms. -#}
{% macro epoch_auto_to_timestamp(expr) -%}
    case
        when {{ expr }} is null then null
        when abs({{ expr }}) >= 100000000000 then {{ engagement.epoch_to_timestamp(expr, 'ms') }}
        else {{ engagement.epoch_to_timestamp(expr, 's') }}
    end
{%- endmacro %}

{#- A time text that is either a timestamp text or an epoch number (ms or s by magnitude). -#}
{% macro text_or_epoch_to_timestamp(expr, zone_var=none) -%}
    case
        when {{ engagement.regex_full_match("trim(" ~ expr ~ ")", "[0-9]{9,14}") }}
            then {{ engagement.epoch_auto_to_timestamp(engagement.try_cast("trim(" ~ expr ~ ")", dbt.type_bigint())) }}
        else {{ engagement.text_to_utc_timestamp(expr, zone_var) }}
    end
{%- endmacro %}

{#- A path partition date, `2024-05-01` or `20240501`, as a date. -#}
{% macro partition_date(expr) -%}
    {{ engagement.try_cast(
        "case when length(" ~ expr ~ ") = 8 then substring(" ~ expr ~ ", 1, 4) || '-' || substring("
        ~ expr ~ ", 5, 2) || '-' || substring(" ~ expr ~ ", 7, 2) else " ~ expr ~ " end",
        "date") }}
{%- endmacro %}
