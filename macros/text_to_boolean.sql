{#- Vendor booleans arrive as text in several spellings; anything else is NULL rather than a guess. -#}
{% macro text_to_boolean(expr) -%}
    case
        when lower(trim({{ expr }})) in ('true', 't', '1', 'yes', 'y') then true
        when lower(trim({{ expr }})) in ('false', 'f', '0', 'no', 'n') then false
    end
{%- endmacro %}
