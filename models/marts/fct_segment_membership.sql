{#- Simon add/remove rows as membership intervals per contact, segment and flow. Repeated adds extend
    the open interval; a remove with no add before it (the feed started mid-membership) closes an
    interval whose start is unknown (valid_from NULL, has_unknown_start). -#}
with

changes as (

    select
        contact_key,
        email_sha256,
        segment_name,
        flow_name,
        variant,
        event_type,
        occurred_at,
        engagement_event_id
    from {{ ref('fct_engagement_events') }}
    where event_type in ('segment_added', 'segment_removed')

),

ordered as (

    select
        *,
        lag(event_type) over (
            partition by contact_key, segment_name, flow_name order by occurred_at, engagement_event_id
        ) as previous_event_type
    from changes

),

flagged as (

    select
        *,
        case
            when coalesce(previous_event_type, 'segment_removed') = 'segment_removed' then 1 else 0
        end as starts_interval
    from ordered

),

numbered as (

    select
        *,
        cast(sum(starts_interval) over (
            partition by contact_key, segment_name, flow_name
            order by occurred_at, engagement_event_id
            rows between unbounded preceding and current row
        ) as {{ dbt.type_bigint() }}) as interval_number
    from flagged

),

intervals as (

    select
        contact_key,
        segment_name,
        flow_name,
        interval_number,
        max(email_sha256) as email_sha256,
        min(case when event_type = 'segment_added' then variant end) as variant,
        min(case when event_type = 'segment_added' then occurred_at end) as valid_from,
        min(case when event_type = 'segment_removed' then occurred_at end) as valid_to,
        cast(sum(case when event_type = 'segment_added' then 1 else 0 end) as {{ dbt.type_bigint() }}) as add_events
    from numbered
    group by 1, 2, 3, 4

),

final as (

    select
        {{ engagement.surrogate_key(['contact_key', 'segment_name', 'flow_name', 'interval_number']) }}
            as segment_membership_id,
        contact_key,
        email_sha256,
        segment_name,
        flow_name,
        variant,
        interval_number,
        valid_from,
        valid_to,
        valid_to is null as is_current,
        add_events = 0 as has_unknown_start
    from intervals

)

select * from final
