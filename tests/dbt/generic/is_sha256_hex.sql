{#- Fails for any value that is not a lower-case SHA-256 hex: guards against a clear-text email
    slipping past staging. -#}
{% test is_sha256_hex(model, column_name) %}

select {{ column_name }}
from {{ model }}
where
    {{ column_name }} is not null
    and not {{ engagement.regex_full_match(column_name, '[0-9a-f]{64}') }}

{% endtest %}
