{#- Feed health: a rate column (quarantined files, rejected rows) above its threshold on a recent day
    (the last `health__recent_days` days up to as_of). One failing row per feed day. -#}
{% test health_rate_at_most(model, column_name, max_rate) %}

select
    feed,
    activity_date,
    {{ column_name }} as rate,
    {{ max_rate }} as max_rate
from {{ model }}
where
    {{ column_name }} > {{ max_rate }}
    and activity_date >= cast({{ engagement.health_as_of() }} as date) - {{ var('health__recent_days') }}

{% endtest %}
