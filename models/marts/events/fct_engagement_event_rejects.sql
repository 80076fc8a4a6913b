{#- Rows that cannot be placed in fct_engagement_events: no usable event time, no vendor event key, or a
    vendor event the seeds do not map (add it to seeds/engagement_event_map.csv, then build with
    --full-refresh). One row per raw row, with its file and line, so none is lost in silence. Rebuilt from the
    intermediate union on every run. -#}
with

unioned as (

    select * from {{ ref('int_engagement_events_unioned') }}

),

final as (

    select
        reject_reason,
        source_vendor,
        source_table,
        source_uri,
        source_row,
        source_event_id,
        source_event_name,
        occurred_at,
        contact_key,
        engagement_event_id,
        loaded_at
    from unioned
    where reject_reason is not null

)

select * from final
