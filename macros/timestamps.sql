{#- Vendor time texts to UTC timestamps. Every vendor documents UTC, so no conversion is needed; only
    the shapes differ: `2018-01-02 09:24:25`, `2024-02-14 21:42:15.520`, `2024-02-14T21:42:15.520Z`. -#}
{% macro text_to_utc_timestamp(expr) -%}
    {{ engagement.try_cast("replace(replace(trim(" ~ expr ~ "), 'T', ' '), 'Z', '')", dbt.type_timestamp()) }}
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
{% macro text_or_epoch_to_timestamp(expr) -%}
    case
        when {{ engagement.regex_full_match("trim(" ~ expr ~ ")", "[0-9]{9,14}") }}
            then {{ engagement.epoch_auto_to_timestamp(engagement.try_cast("trim(" ~ expr ~ ")", dbt.type_bigint())) }}
        else {{ engagement.text_to_utc_timestamp(expr) }}
    end
{%- endmacro %}

{#- A path partition date, `2024-05-01` or `20240501`, as a date. -#}
{% macro partition_date(expr) -%}
    {{ engagement.try_cast(
        "case when length(" ~ expr ~ ") = 8 then substring(" ~ expr ~ ", 1, 4) || '-' || substring("
        ~ expr ~ ", 5, 2) || '-' || substring(" ~ expr ~ ", 7, 2) else " ~ expr ~ " end",
        "date") }}
{%- endmacro %}
