{#- The one way an email becomes a key: trimmed, lower-cased, SHA-256 hex. A value that already is a
    SHA-256 hex (Sailthru's email_sha256, Simon with identity hashing, a loader with hash_emails on) is
    only lower-cased. Anything else (empty, no @) gives NULL. -#}
{% macro email_sha256(expr) -%}
    case
        when {{ engagement.regex_full_match("lower(trim(" ~ expr ~ "))", "[0-9a-f]{64}") }}
            then lower(trim({{ expr }}))
        when trim({{ expr }}) like '%_@_%'
            then {{ engagement.sha256_hex("lower(trim(" ~ expr ~ "))") }}
    end
{%- endmacro %}
