{#- Rates add up at every grain: a rate's numerator and denominator are counted only on rows of a vendor and
    channel that report the denominator's event (from the seeds: which canonical events a vendor maps for a
    channel), so summing `<rate>_numerator` and `<rate>_denominator` over any set of rows (day, vendor, channel,
    campaign, total) and dividing gives that set's rate; Encharge's deliveries never meet another vendor's sends. -#}
with

events as (

    select * from {{ ref('fct_engagement_events') }}

),

reported as (

    {#- which canonical events each vendor reports per channel; APSIS bounce codes only split BOUNCED rows -#}
    select
        source_vendor,
        nullif(channel, '') as channel,
        max(case when event_type = 'sent' then 1 else 0 end) as reports_sent,
        max(case when event_type = 'delivered' then 1 else 0 end) as reports_delivered,
        max(case when event_type = 'bounced' then 1 else 0 end) as reports_bounced,
        max(case when event_type = 'opened' then 1 else 0 end) as reports_opened,
        max(case when event_type = 'clicked' then 1 else 0 end) as reports_clicked,
        max(case when event_type = 'unsubscribed' then 1 else 0 end) as reports_unsubscribed,
        max(case when event_type = 'spam_reported' then 1 else 0 end) as reports_spam
    from {{ ref('engagement_event_map') }}
    group by 1, 2

),

counted as (

    select
        occurred_date,
        source_vendor,
        channel,
        campaign_id,
        {{ engagement.count_where("event_type = 'sent'") }} as sends,
        {{ engagement.count_where("event_type = 'delivered'") }} as delivered_events,
        {{ engagement.count_where("event_type = 'bounced'") }} as bounces,
        {{ engagement.count_where("event_type = 'bounced' and bounce_type = 'hard'") }} as hard_bounces,
        {{ engagement.count_where("event_type = 'bounced' and bounce_type = 'soft'") }} as soft_bounces,
        {{ engagement.count_where("event_type = 'opened' and not is_machine_event") }} as opens,
        {{ engagement.count_where("event_type = 'clicked' and not is_machine_event") }} as clicks,
        count(distinct case
            when event_type = 'opened' and not is_machine_event
                then {{ dbt.concat(['contact_key', "'|'", "coalesce(message_id, campaign_id, '')"]) }}
        end) as unique_opens,
        count(distinct case
            when event_type = 'clicked' and not is_machine_event
                then {{ dbt.concat(['contact_key', "'|'", "coalesce(message_id, campaign_id, '')"]) }}
        end) as unique_clicks,
        {{ engagement.count_where("event_type = 'opened' and is_machine_event") }} as machine_opens,
        {{ engagement.count_where("event_type = 'clicked' and is_machine_event") }} as machine_clicks,
        {{ engagement.count_where("event_type = 'unsubscribed'") }} as unsubscribes,
        {{ engagement.count_where("event_type = 'spam_reported'") }} as spam_reports,
        count(*) as events
    from events
    group by 1, 2, 3, 4

),

based as (

    select
        counted.*,
        {# a vendor without delivery events (Sailthru email, push) delivers what did not bounce #}
        case
            when reported.reports_delivered = 1 then counted.delivered_events
            when reported.reports_sent = 1 then greatest(counted.sends - counted.bounces, 0)
            else counted.delivered_events
        end as deliveries,
        coalesce(reported.reports_sent, 0) = 1 as has_sends,
        coalesce(reported.reports_delivered, 0) = 1 or coalesce(reported.reports_sent, 0) = 1 as has_deliveries,
        coalesce(reported.reports_bounced, 0) = 1 as has_bounces,
        coalesce(reported.reports_opened, 0) = 1 as has_opens,
        coalesce(reported.reports_clicked, 0) = 1 as has_clicks,
        coalesce(reported.reports_unsubscribed, 0) = 1 as has_unsubscribes,
        coalesce(reported.reports_spam, 0) = 1 as has_spam_reports
    from counted
    left join reported
        on
            counted.source_vendor = reported.source_vendor
            and coalesce(counted.channel, '') = coalesce(reported.channel, '')

),

rate_bases as (

    select
        *,
        case when has_sends and has_deliveries then deliveries else 0 end as delivery_rate_numerator,
        case when has_sends and has_deliveries then sends else 0 end as delivery_rate_denominator,
        case when has_sends and has_bounces then bounces else 0 end as bounce_rate_numerator,
        case when has_sends and has_bounces then sends else 0 end as bounce_rate_denominator,
        case when has_deliveries and has_opens then unique_opens else 0 end as open_rate_numerator,
        case when has_deliveries and has_opens then deliveries else 0 end as open_rate_denominator,
        case when has_deliveries and has_clicks then unique_clicks else 0 end as click_through_rate_numerator,
        case when has_deliveries and has_clicks then deliveries else 0 end as click_through_rate_denominator,
        case when has_opens and has_clicks then unique_clicks else 0 end as click_to_open_rate_numerator,
        case when has_opens and has_clicks then unique_opens else 0 end as click_to_open_rate_denominator,
        case when has_deliveries and has_unsubscribes then unsubscribes else 0 end as unsubscribe_rate_numerator,
        case when has_deliveries and has_unsubscribes then deliveries else 0 end as unsubscribe_rate_denominator,
        case when has_deliveries and has_spam_reports then spam_reports else 0 end as complaint_rate_numerator,
        case when has_deliveries and has_spam_reports then deliveries else 0 end as complaint_rate_denominator
    from based

),

final as (

    select
        {{ engagement.surrogate_key(['occurred_date', 'source_vendor', 'channel', 'campaign_id']) }}
            as engagement_daily_id,
        occurred_date,
        source_vendor,
        channel,
        campaign_id,
        sends,
        deliveries,
        bounces,
        hard_bounces,
        soft_bounces,
        opens,
        clicks,
        unique_opens,
        unique_clicks,
        machine_opens,
        machine_clicks,
        unsubscribes,
        spam_reports,
        events,
        cast(delivery_rate_numerator as {{ dbt.type_bigint() }}) as delivery_rate_numerator,
        cast(delivery_rate_denominator as {{ dbt.type_bigint() }}) as delivery_rate_denominator,
        {{ engagement.safe_ratio('delivery_rate_numerator', 'delivery_rate_denominator') }} as delivery_rate,
        cast(bounce_rate_numerator as {{ dbt.type_bigint() }}) as bounce_rate_numerator,
        cast(bounce_rate_denominator as {{ dbt.type_bigint() }}) as bounce_rate_denominator,
        {{ engagement.safe_ratio('bounce_rate_numerator', 'bounce_rate_denominator') }} as bounce_rate,
        cast(open_rate_numerator as {{ dbt.type_bigint() }}) as open_rate_numerator,
        cast(open_rate_denominator as {{ dbt.type_bigint() }}) as open_rate_denominator,
        {{ engagement.safe_ratio('open_rate_numerator', 'open_rate_denominator') }} as open_rate,
        cast(click_through_rate_numerator as {{ dbt.type_bigint() }}) as click_through_rate_numerator,
        cast(click_through_rate_denominator as {{ dbt.type_bigint() }}) as click_through_rate_denominator,
        {{ engagement.safe_ratio('click_through_rate_numerator', 'click_through_rate_denominator') }}
            as click_through_rate,
        cast(click_to_open_rate_numerator as {{ dbt.type_bigint() }}) as click_to_open_rate_numerator,
        cast(click_to_open_rate_denominator as {{ dbt.type_bigint() }}) as click_to_open_rate_denominator,
        {{ engagement.safe_ratio('click_to_open_rate_numerator', 'click_to_open_rate_denominator') }}
            as click_to_open_rate,
        cast(unsubscribe_rate_numerator as {{ dbt.type_bigint() }}) as unsubscribe_rate_numerator,
        cast(unsubscribe_rate_denominator as {{ dbt.type_bigint() }}) as unsubscribe_rate_denominator,
        {{ engagement.safe_ratio('unsubscribe_rate_numerator', 'unsubscribe_rate_denominator') }}
            as unsubscribe_rate,
        cast(complaint_rate_numerator as {{ dbt.type_bigint() }}) as complaint_rate_numerator,
        cast(complaint_rate_denominator as {{ dbt.type_bigint() }}) as complaint_rate_denominator,
        {{ engagement.safe_ratio('complaint_rate_numerator', 'complaint_rate_denominator') }} as complaint_rate
    from rate_bases

)

select * from final
