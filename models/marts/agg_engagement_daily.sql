with

events as (

    select * from {{ ref('fct_engagement_events') }}

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

final as (

    select
        {{ engagement.surrogate_key(['occurred_date', 'source_vendor', 'channel', 'campaign_id']) }}
            as engagement_daily_id,
        occurred_date,
        source_vendor,
        channel,
        campaign_id,
        sends,
        {# a vendor without delivery events (Sailthru email) delivers what did not bounce #}
        case when delivered_events > 0 then delivered_events else greatest(sends - bounces, 0) end as deliveries,
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
        {{ engagement.safe_ratio('case when delivered_events > 0 then delivered_events'
            ~ ' else greatest(sends - bounces, 0) end', 'sends') }} as delivery_rate,
        {{ engagement.safe_ratio('unique_opens', 'case when delivered_events > 0 then delivered_events'
            ~ ' else greatest(sends - bounces, 0) end') }} as open_rate,
        {{ engagement.safe_ratio('unique_clicks', 'case when delivered_events > 0 then delivered_events'
            ~ ' else greatest(sends - bounces, 0) end') }} as click_through_rate,
        {{ engagement.safe_ratio('unique_clicks', 'unique_opens') }} as click_to_open_rate,
        {{ engagement.safe_ratio('bounces', 'sends') }} as bounce_rate,
        {{ engagement.safe_ratio('unsubscribes', 'case when delivered_events > 0 then delivered_events'
            ~ ' else greatest(sends - bounces, 0) end') }} as unsubscribe_rate,
        {{ engagement.safe_ratio('spam_reports', 'case when delivered_events > 0 then delivered_events'
            ~ ' else greatest(sends - bounces, 0) end') }} as complaint_rate
    from counted

)

select * from final
