{#- The canonical event columns of the vendor union (int_engagement_events_unioned), checked in one read: a
    test on a view recomputes every vendor's staging from raw, so seven separate tests cost seven reads
    (and the five vendor adapters carried the same tests again: forty more). One failing row per vendor
    with a broken rule, the count of offending rows per rule beside the vendor's name. The rules, as the
    single-column tests they replace (NULLs pass where those let them pass):
    - engagement_event_id not null; loaded_at and source_uri not null (the row's lineage);
    - event_type in `event_types` (relationships), channel in `channels`, bounce_type in `bounce_types`
      (accepted_values);
    - email_sha256 a lower-case SHA-256 hex (is_sha256_hex: no clear-text email past staging).
    A NULL occurred_at (a warning, not an error) is checked on fct_engagement_event_rejects: each such row is
    a `no_event_time` reject there. -#}
{% test canonical_events_valid(model, event_types, channels, bounce_types) %}

with

events as (

    select * from {{ model }}

),

checked as (

    select
        events.source_vendor,
        count(case when events.engagement_event_id is null then 1 end) as null_engagement_event_id,
        count(
            case when events.event_type is not null and known_types.event_type is null then 1 end
        ) as unknown_event_type,
        count(case when events.channel not in ('{{ channels | join("', '") }}') then 1 end) as unknown_channel,
        count(
            case when events.bounce_type not in ('{{ bounce_types | join("', '") }}') then 1 end
        ) as unknown_bounce_type,
        count(
            case
                when
                    events.email_sha256 is not null
                    and not {{ engagement.regex_full_match('events.email_sha256', '[0-9a-f]{64}') }}
                    then 1
            end
        ) as email_not_sha256_hex,
        count(case when events.loaded_at is null then 1 end) as null_loaded_at,
        count(case when events.source_uri is null then 1 end) as null_source_uri
    from events
    left join (select distinct event_type from {{ event_types }}) as known_types
        on events.event_type = known_types.event_type
    group by events.source_vendor

)

select * from checked
where
    null_engagement_event_id + unknown_event_type + unknown_channel + unknown_bounce_type
    + email_not_sha256_hex + null_loaded_at + null_source_uri > 0

{% endtest %}
