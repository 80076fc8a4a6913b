{#- Engine-specific expressions, one dispatch macro each, so the models stay portable. The `default__`
    versions are DuckDB's (the default target); the `spark__` versions run on Spark 3.5 (the `spark` target,
    tested for equal marts). Spark string literals treat a backslash as an escape, so every pattern handed
    to a Spark regex function has its backslashes doubled (`spark_literal`). -#}

{#- A SQL string literal for Spark: quote and backslash escaped (Spark reads `\\` as one backslash). -#}
{% macro spark_literal(text) -%}
    '{{ text | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{#- `expr in (...)` over text values (file names from a query: quoted and escaped as literals); `false`
    for no values. -#}
{% macro in_list(expr, values) -%}
    {%- if values | length == 0 -%}
        false
    {%- else -%}
        {{ expr }} in (
            {%- for value in values -%}
                {{ engagement.string_literal(value) }}{{ ", " if not loop.last }}
            {%- endfor -%}
        )
    {%- endif -%}
{%- endmacro %}

{#- A SQL string literal of any text: quotes doubled (DuckDB); Spark's escapes (`spark_literal`). -#}
{% macro string_literal(text) -%}
    {{ return(adapter.dispatch('string_literal', 'engagement')(text)) }}
{%- endmacro %}

{% macro default__string_literal(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__string_literal(text) -%}
    {{ engagement.spark_literal(text) }}
{%- endmacro %}

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

{#- The texts of several JSON members, each as `json_text` gives it, from one parse of the document (DuckDB
    parses it again for every `json_text`). A list: `json_texts_members` names its items. -#}
{% macro json_texts(expr, paths) -%}
    {{ return(adapter.dispatch('json_texts', 'engagement')(expr, paths)) }}
{%- endmacro %}

{% macro default__json_texts(expr, paths) -%}
    json_extract_string({{ expr }}, [{% for path in paths %}'$.{{ path }}'{{ ", " if not loop.last }}{% endfor %}])
{%- endmacro %}

{% macro spark__json_texts(expr, paths) -%}
    array({% for path in paths %}get_json_object({{ expr }}, '$.{{ path }}'){{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}

{#- A dict from each of `paths` to its item of the `json_texts` list in the column `texts`. -#}
{% macro json_texts_members(texts, paths) -%}
    {%- set members = {} -%}
    {%- for path in paths -%}
        {%- do members.update({path: engagement.list_item(texts, loop.index)}) -%}
    {%- endfor -%}
    {{ return(members) }}
{%- endmacro %}

{#- The item of a list (array) at a position counted from 1. -#}
{% macro list_item(expr, position) -%}
    {{ return(adapter.dispatch('list_item', 'engagement')(expr, position)) }}
{%- endmacro %}

{% macro default__list_item(expr, position) -%}
    {{ expr }}[{{ position }}]
{%- endmacro %}

{% macro spark__list_item(expr, position) -%}
    element_at({{ expr }}, {{ position }})
{%- endmacro %}

{#- A JSON member kept as JSON text (objects, arrays), for passthrough. -#}
{% macro json_member(expr, path) -%}
    {{ return(adapter.dispatch('json_member', 'engagement')(expr, path)) }}
{%- endmacro %}

{% macro default__json_member(expr, path) -%}
    cast(json_extract({{ expr }}, '$.{{ path }}') as {{ dbt.type_string() }})
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
    ({{ expr }} rlike {{ engagement.spark_literal('^(?:' ~ pattern ~ ')\\z') }})
{%- endmacro %}

{#- The first capture group of a regular expression, or null when it does not match. -#}
{% macro regex_group(expr, pattern, group=1) -%}
    {{ return(adapter.dispatch('regex_group', 'engagement')(expr, pattern, group)) }}
{%- endmacro %}

{% macro default__regex_group(expr, pattern, group) -%}
    nullif(regexp_extract({{ expr }}, '{{ pattern }}', {{ group }}), '')
{%- endmacro %}

{% macro spark__regex_group(expr, pattern, group) -%}
    nullif(regexp_extract({{ expr }}, {{ engagement.spark_literal(pattern) }}, {{ group }}), '')
{%- endmacro %}

{#- JSON object text from (key, expression) pairs; keys are literals we control or escape. -#}
{% macro json_object_from(pairs) -%}
    {{ return(adapter.dispatch('json_object_from', 'engagement')(pairs)) }}
{%- endmacro %}

{% macro default__json_object_from(pairs) -%}
    {%- if pairs | length == 0 -%}
        cast('{}' as {{ dbt.type_string() }})
    {%- else -%}
        cast(json_object(
        {%- for key, value in pairs -%}
            '{{ key | replace("'", "''") }}', {{ value }}{{ ", " if not loop.last }}
        {%- endfor -%}
        ) as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}

{#- Spark's to_json drops null members unless told not to; DuckDB's json_object keeps them. -#}
{% macro spark__json_object_from(pairs) -%}
    {%- if pairs | length == 0 -%}
        '{}'
    {%- else -%}
        to_json(named_struct(
        {%- for key, value in pairs -%}
            {{ engagement.spark_literal(key) }}, {{ value }}{{ ", " if not loop.last }}
        {%- endfor -%}
        ), map('ignoreNullFields', 'false'))
    {%- endif -%}
{%- endmacro %}

{#- JSON text merged: members of `patch_expr` (JSON text) win, JSON null members remove keys (RFC 7396). -#}
{% macro json_merge(base_expr, patch_expr) -%}
    {{ return(adapter.dispatch('json_merge', 'engagement')(base_expr, patch_expr)) }}
{%- endmacro %}

{% macro default__json_merge(base_expr, patch_expr) -%}
    cast(json_merge_patch(coalesce({{ base_expr }}, '{}'), coalesce({{ patch_expr }}, '{}')) as {{ dbt.type_string() }})
{%- endmacro %}

{#- Spark has no merge-patch: the top-level members are rebuilt as text. Each member's JSON text comes from
    get_json_object over the object wrapped in an array with a `[*]` step, which keeps strings quoted (plain
    `$.key` unquotes them, and a string "1" would become the number 1). Members of the patch win; a JSON null
    in the patch removes the key (get_json_object gives SQL NULL for it), the base's own nulls stay; the
    base's keys keep their order and new keys follow, as DuckDB's json_merge_patch does.
    Nested objects are replaced, not merged: every caller patches top-level members only. -#}
{% macro spark__json_merge(base_expr, patch_expr) -%}
    {#- the two texts are bound once, as a lambda's argument, instead of repeating their expressions -#}
    element_at(transform(
        array(named_struct('b', coalesce({{ base_expr }}, '{}'), 'p', coalesce({{ patch_expr }}, '{}'))),
        j -> concat('{', array_join(transform(
            filter(
                transform(
                    array_distinct(concat(json_object_keys(j.b), json_object_keys(j.p))),
                    k -> named_struct('k', k, 'v', case
                        when array_contains(json_object_keys(j.p), k)
                            then {{ engagement.spark_json_member_text('j.p', 'k') }}
                        else coalesce({{ engagement.spark_json_member_text('j.b', 'k') }}, 'null')
                    end)
                ),
                m -> m.v is not null
            ),
            m -> concat(substring(to_json(array(m.k)), 2, length(to_json(array(m.k))) - 2), ':', m.v)
        ), ','), '}')
    ), 1)
{%- endmacro %}

{#- The JSON text of a top-level member (strings keep their quotes), NULL when absent. -#}
{% macro spark_json_member_text(json_expr, key_expr) -%}
    get_json_object(concat('[', {{ json_expr }}, ']'), concat('$[*][\'', {{ key_expr }}, '\']'))
{%- endmacro %}

{#- JSON text without the named top-level keys: what stays is passthrough for `properties`. -#}
{% macro json_without_keys(expr, keys) -%}
    {{ return(adapter.dispatch('json_without_keys', 'engagement')(expr, keys)) }}
{%- endmacro %}

{% macro default__json_without_keys(expr, keys) -%}
    {%- set nulls = [] -%}
    {%- for key in keys -%}{%- do nulls.append((key, 'null')) -%}{%- endfor -%}
    cast(json_merge_patch(coalesce({{ expr }}, '{}'), {{ engagement.json_object_from(nulls) }}) as {{ dbt.type_string() }})
{%- endmacro %}

{% macro spark__json_without_keys(expr, keys) -%}
    {%- set nulls = [] -%}
    {%- for key in keys -%}{%- do nulls.append((key, 'cast(null as string)')) -%}{%- endfor -%}
    {{ engagement.spark__json_merge(expr, engagement.spark__json_object_from(nulls)) }}
{%- endmacro %}

{#- A cast that gives NULL instead of failing on bad vendor text. (dbt-duckdb's dbt.safe_cast is a plain
    cast, so it would fail the whole build on one bad value.) -#}
{% macro try_cast(expr, type) -%}
    {{ return(adapter.dispatch('try_cast', 'engagement')(expr, type)) }}
{%- endmacro %}

{#- Other engines: dbt's own safe_cast (try_cast, safe_cast ... where the adapter has one). -#}
{% macro default__try_cast(expr, type) -%}
    {{ dbt.safe_cast(expr, type) }}
{%- endmacro %}

{% macro duckdb__try_cast(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}

{% macro spark__try_cast(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}

{#- Passthrough JSON may carry e-mail addresses in places no staging model names (an Encharge form's fields,
    say): every address-shaped string is replaced, so the mart never holds clear text. An address holds an `@`,
    so a text without one is returned as it is: the `like` finds that in a fraction of the regular
    expression's time (the fact's 10 M texts: 7.5 s -> 0.6 s of CPU), with the same result. -#}
{% macro redact_emails(expr) -%}
    case
        when {{ expr }} like '%@%' then {{ adapter.dispatch('replace_emails', 'engagement')(expr) }}
        else {{ expr }}
    end
{%- endmacro %}

{#- every address-shaped string of `expr` replaced (redact_emails calls it for texts holding an `@`) -#}
{% macro default__replace_emails(expr) -%}
    regexp_replace({{ expr }}, '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+', '[email removed]', 'g')
{%- endmacro %}

{% macro spark__replace_emails(expr) -%}
    regexp_replace({{ expr }}, '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+', '[email removed]')
{%- endmacro %}

{#- One row for each integer from `low` to `high`, both included: a set-returning expression in a select list,
    which repeats the row's other columns for each integer. -#}
{% macro unnest_integers(low, high) -%}
    {{ return(adapter.dispatch('unnest_integers', 'engagement')(low, high)) }}
{%- endmacro %}

{% macro default__unnest_integers(low, high) -%}
    unnest(generate_series({{ low }}, {{ high }}))
{%- endmacro %}

{% macro spark__unnest_integers(low, high) -%}
    explode(sequence({{ low }}, {{ high }}))
{%- endmacro %}
