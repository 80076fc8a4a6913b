with

events as (

    select * from {{ ref('fct_engagement_events') }}
    where contact_key is not null

),

vendors as (

    select distinct
        contact_key,
        source_vendor
    from events

),

vendor_lists as (

    select
        contact_key,
        {{ dbt.listagg('source_vendor', "','", "order by source_vendor") }} as vendors,
        count(*) as vendor_count
    from vendors
    group by 1

),

summary as (

    select
        contact_key,
        max(email_sha256) as email_sha256,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        count(*) as event_count,
        {{ engagement.count_where("event_type = 'opened' and not is_machine_event") }} as opens,
        {{ engagement.count_where("event_type = 'clicked' and not is_machine_event") }} as clicks,
        max(case when event_type = 'unsubscribed' then occurred_at end) as last_unsubscribed_at,
        max(case when event_type = 'spam_reported' then occurred_at end) as last_spam_reported_at,
        max(case when event_type = 'bounced' and bounce_type = 'hard' then occurred_at end) as last_hard_bounced_at
    from events
    group by 1

),

final as (

    select
        summary.contact_key,
        summary.email_sha256,
        summary.first_seen_at,
        summary.last_seen_at,
        vendor_lists.vendors,
        vendor_lists.vendor_count,
        summary.event_count,
        summary.opens,
        summary.clicks,
        summary.last_unsubscribed_at,
        summary.last_spam_reported_at,
        summary.last_hard_bounced_at,
        summary.last_unsubscribed_at is not null or summary.last_spam_reported_at is not null as is_unsubscribed,
        case
            when summary.last_unsubscribed_at is not null or summary.last_spam_reported_at is not null
                then 'unsubscribed'
            when summary.last_hard_bounced_at is not null then 'undeliverable'
            else 'subscribed'
        end as subscription_state
    from summary
    inner join vendor_lists
        on summary.contact_key = vendor_lists.contact_key

)

select * from final
