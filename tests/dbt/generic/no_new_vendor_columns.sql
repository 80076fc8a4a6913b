{#- Feed health: a vendor column first seen on a recent day (the last `health__recent_days` days up to
    as_of), after its table's first load: the vendor changed its feed. The loader and the staging models
    absorb it (the value travels in `properties`); a person should still look. One row per new column. -#}
{% test no_new_vendor_columns(model) %}

select
    feed,
    raw_table,
    column_name,
    first_uri,
    seen_at
from {{ model }}
where
    not is_initial
    and seen_date >= cast({{ engagement.health_as_of() }} as date) - {{ var('health__recent_days') }}

{% endtest %}
