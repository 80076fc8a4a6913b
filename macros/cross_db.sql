{#- Engine-specific expressions, one dispatch macro each, so the models stay portable. The `default__`
    versions are DuckDB's (the default target); `spark__` versions show the way to a distributed engine. -#}

{#- Text of a JSON member: `path` is a dotted path such as 'user.id' (no `$`). -#}
{% macro json_text(expr, path) -%}
    {{ return(adapter.dispatch('json_text', 'engagement')(expr, path)) }}
{%- endmacro %}

{% macro default__json_text(expr, path) -%}
    json_extract_string({{ expr }}, '$.{{ path }}')
{%- endmacro %}

{% macro spark__json_text(expr, path) -%}
    get_json_object({{ expr }}, '$.{{ path }}')
{%- endmacro %}

{#- A JSON member kept as JSON text (objects, arrays), for passthrough. -#}
{% macro json_member(expr, path) -%}
    {{ return(adapter.dispatch('json_member', 'engagement')(expr, path)) }}
{%- endmacro %}

{% macro default__json_member(expr, path) -%}
    cast(json_extract({{ expr }}, '$.{{ path }}') as varchar)
{%- endmacro %}

{% macro spark__json_member(expr, path) -%}
    get_json_object({{ expr }}, '$.{{ path }}')
{%- endmacro %}

{#- Lower-case hex SHA-256 of a text value. -#}
{% macro sha256_hex(expr) -%}
    {{ return(adapter.dispatch('sha256_hex', 'engagement')(expr)) }}
{%- endmacro %}

{% macro default__sha256_hex(expr) -%}
    sha256({{ expr }})
{%- endmacro %}

{% macro spark__sha256_hex(expr) -%}
    sha2({{ expr }}, 256)
{%- endmacro %}

{#- UTC timestamp from an integer count since the Unix epoch, in 'ms' or 's'. -#}
{% macro epoch_to_timestamp(expr, unit='ms') -%}
    {{ return(adapter.dispatch('epoch_to_timestamp', 'engagement')(expr, unit)) }}
{%- endmacro %}

{% macro default__epoch_to_timestamp(expr, unit) -%}
    {%- if unit == 'ms' -%}
        make_timestamp(cast({{ expr }} as bigint) * 1000)
    {%- else -%}
        make_timestamp(cast({{ expr }} as bigint) * 1000000)
    {%- endif -%}
{%- endmacro %}

{% macro spark__epoch_to_timestamp(expr, unit) -%}
    {%- if unit == 'ms' -%}
        timestamp_millis(cast({{ expr }} as bigint))
    {%- else -%}
        timestamp_seconds(cast({{ expr }} as bigint))
    {%- endif -%}
{%- endmacro %}

{#- True when the whole text matches a regular expression (RE2 / Java syntax common subset). -#}
{% macro regex_full_match(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match', 'engagement')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regex_full_match(expr, pattern) -%}
    regexp_full_match({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__regex_full_match(expr, pattern) -%}
    ({{ expr }} rlike '^(?:{{ pattern }})$')
{%- endmacro %}

{#- The first capture group of a regular expression, or null when it does not match. -#}
{% macro regex_group(expr, pattern, group=1) -%}
    {{ return(adapter.dispatch('regex_group', 'engagement')(expr, pattern, group)) }}
{%- endmacro %}

{% macro default__regex_group(expr, pattern, group) -%}
    nullif(regexp_extract({{ expr }}, '{{ pattern }}', {{ group }}), '')
{%- endmacro %}

{% macro spark__regex_group(expr, pattern, group) -%}
    nullif(regexp_extract({{ expr }}, '{{ pattern }}', {{ group }}), '')
{%- endmacro %}

{#- JSON object text from (key, expression) pairs; keys are literals we control or escape. -#}
{% macro json_object_from(pairs) -%}
    {{ return(adapter.dispatch('json_object_from', 'engagement')(pairs)) }}
{%- endmacro %}

{% macro default__json_object_from(pairs) -%}
    {%- if pairs | length == 0 -%}
        cast('{}' as varchar)
    {%- else -%}
        cast(json_object(
        {%- for key, value in pairs -%}
            '{{ key | replace("'", "''") }}', {{ value }}{{ ", " if not loop.last }}
        {%- endfor -%}
        ) as varchar)
    {%- endif -%}
{%- endmacro %}

{% macro spark__json_object_from(pairs) -%}
    {%- if pairs | length == 0 -%}
        '{}'
    {%- else -%}
        to_json(named_struct(
        {%- for key, value in pairs -%}
            '{{ key | replace("'", "''") }}', {{ value }}{{ ", " if not loop.last }}
        {%- endfor -%}
        ))
    {%- endif -%}
{%- endmacro %}

{#- JSON text merged: members of `patch_expr` (JSON text) win, JSON null members remove keys (RFC 7396). -#}
{% macro json_merge(base_expr, patch_expr) -%}
    {{ return(adapter.dispatch('json_merge', 'engagement')(base_expr, patch_expr)) }}
{%- endmacro %}

{% macro default__json_merge(base_expr, patch_expr) -%}
    cast(json_merge_patch(coalesce({{ base_expr }}, '{}'), coalesce({{ patch_expr }}, '{}')) as varchar)
{%- endmacro %}

{#- JSON text without the named top-level keys: what stays is passthrough for `properties`. -#}
{% macro json_without_keys(expr, keys) -%}
    {{ return(adapter.dispatch('json_without_keys', 'engagement')(expr, keys)) }}
{%- endmacro %}

{% macro default__json_without_keys(expr, keys) -%}
    {%- set nulls = [] -%}
    {%- for key in keys -%}{%- do nulls.append((key, 'null')) -%}{%- endfor -%}
    cast(json_merge_patch(coalesce({{ expr }}, '{}'), {{ engagement.json_object_from(nulls) }}) as varchar)
{%- endmacro %}

{#- A cast that gives NULL instead of failing on bad vendor text. (dbt-duckdb's dbt.safe_cast is a plain
    cast, so it would fail the whole build on one bad value.) -#}
{% macro try_cast(expr, type) -%}
    {{ return(adapter.dispatch('try_cast', 'engagement')(expr, type)) }}
{%- endmacro %}

{% macro default__try_cast(expr, type) -%}
    {{ engagement.try_cast(expr, type) }}
{%- endmacro %}

{% macro duckdb__try_cast(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}

{% macro spark__try_cast(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}

{#- Passthrough JSON may carry e-mail addresses in places no staging model names (an Encharge form's fields,
    say): every address-shaped string is replaced, so the mart never holds clear text. -#}
{% macro redact_emails(expr) -%}
    {{ return(adapter.dispatch('redact_emails', 'engagement')(expr)) }}
{%- endmacro %}

{% macro default__redact_emails(expr) -%}
    regexp_replace({{ expr }}, '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+', '[email removed]', 'g')
{%- endmacro %}

{% macro spark__redact_emails(expr) -%}
    regexp_replace({{ expr }}, '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+', '[email removed]')
{%- endmacro %}
