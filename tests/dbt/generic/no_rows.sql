{#- Every row of the model is a finding: with severity warn, `dbt build` reports how many there are
    (e.g. rows in a rejects model) without failing. -#}
{% test no_rows(model) %}

select * from {{ model }}

{% endtest %}
