{#- Volumes count events on the day they happen. Rates count each message on the day it was sent (its cohort:
    the first sent or delivered event of the contact and message), and only on vendors and channels that report
    the rate's denominator event (from the seeds: which canonical events a vendor maps for a channel). So a
    rate's `<rate>_numerator` and `<rate>_denominator` come from the same messages of the same vendors and
    channels, and summing both over any rows (day, vendor, channel, campaign, total) gives those rows' rate:
    Encharge's deliveries never meet another vendor's sends, and Tuesday's opens of Monday's mail count with
    Monday's deliveries. -#}
{%- set on_spark = target.type == 'spark' -%}
{{
    config(
        materialized='table' if on_spark else 'incremental',
        incremental_strategy=none if on_spark else 'delete+insert',
        unique_key=none if on_spark else 'engagement_daily_id',
        on_schema_change='fail',
    )
}}

{#- Incremental on DuckDB: the rows (day, vendor, channel, campaign) that the fact rows loaded since this mart's
    newest last_loaded_at (minus the lookback) can change are rebuilt from ALL their events and replace their
    rows (a row never disappears: the fact only gains events). Those rows are the days of the new events, and
    every day on which a message touched by a new event was sent or delivered: its cohort day before the new
    events (the first of those days then) and after them (the first now) are both among them. A full refresh
    (and Spark, where the mart is a table) builds every row. See docs/decisions.md (issue 17). -#}
{%- set watermark = none -%}
{%- if is_incremental() -%}
    {%- set watermark = engagement.incremental_watermark(this, 'last_loaded_at', var('engagement__lookback_hours')) -%}
{%- endif %}

{#- a contact's message: the contact and the vendor's message id (the campaign where a vendor gives none) #}
{%- set message_key = dbt.concat(['contact_key', "'|'", "coalesce(message_id, campaign_id, '')"]) %}

with

{#- an incremental run reads the fact a few times, each read filtered (not materialized: DuckDB would otherwise
    copy the whole fact once to serve them) #}
all_events as {% if is_incremental() %}not materialized {% endif %}(

    select
        occurred_date,
        source_vendor,
        channel,
        campaign_id,
        event_type,
        bounce_type,
        is_machine_event,
        contact_key,
        loaded_at,
        {{ message_key }} as message_key
    from {{ ref('fct_engagement_events') }}

),

{% if is_incremental() -%}
new_events as (

    select * from all_events
    where {{ engagement.loaded_after(watermark) }}

),

touched_messages as (

    select distinct
        source_vendor,
        coalesce(channel, '') as channel_key,
        coalesce(campaign_id, '') as campaign_key,
        message_key
    from new_events
    where message_key is not null

),

touched_sends as (

    {#- the sends and deliveries of the new events' contacts (the message key starts with the contact): filtered
        on plain columns before the key is built, so DuckDB filters the fact's scan with the distinct list
        instead of building a key for every sent row (at 10 M: 10 M rows out of the scan -> 122,000, the query
        2.4 -> 1.7-1.9 CPU-s) #}
    select
        occurred_date,
        source_vendor,
        channel,
        campaign_id,
        {{ message_key }} as message_key
    from {{ ref('fct_engagement_events') }}
    where
        event_type in ('sent', 'delivered')
        and contact_key in (select distinct new_events.contact_key from new_events)

),

affected as (

    {#- the rows whose volumes change: the new events' own days (keyed on channel and campaign coalesced, as
        the cohort join matches them: one key per row) #}
    select
        occurred_date,
        source_vendor,
        coalesce(channel, '') as channel_key,
        coalesce(campaign_id, '') as campaign_key
    from new_events

    union

    {#- the rows whose cohort rates change: each touched message's sent / delivered days, its old and new
        cohort day among them #}
    select
        touched_sends.occurred_date,
        touched_sends.source_vendor,
        coalesce(touched_sends.channel, '') as channel_key,
        coalesce(touched_sends.campaign_id, '') as campaign_key
    from touched_sends
    inner join touched_messages
        on
            touched_sends.source_vendor = touched_messages.source_vendor
            and coalesce(touched_sends.channel, '') = touched_messages.channel_key
            and coalesce(touched_sends.campaign_id, '') = touched_messages.campaign_key
            and touched_sends.message_key = touched_messages.message_key

),

{% endif -%}
{#- the events of the rows built: on an incremental run, the affected rows' (their volumes) #}
events as (

    select all_events.*
    from all_events
    {%- if is_incremental() %}
    inner join affected
        on
            all_events.occurred_date = affected.occurred_date
            and all_events.source_vendor = affected.source_vendor
            and coalesce(all_events.channel, '') = affected.channel_key
            and coalesce(all_events.campaign_id, '') = affected.campaign_key
    {#- implied by the join; a filter the scan applies before the join's keys are built #}
    where all_events.occurred_date in (select distinct affected.occurred_date from affected)
    {%- endif %}

),

{% if is_incremental() -%}
{#- a message whose cohort is an affected row was sent or delivered on that row's day: these candidates, with
    all their events (their cohort day is the first of all their sent / delivered days: message_summaries) #}
candidate_messages as (

    select distinct
        source_vendor,
        coalesce(channel, '') as channel_key,
        coalesce(campaign_id, '') as campaign_key,
        message_key,
        contact_key
    from events
    where event_type in ('sent', 'delivered') and contact_key is not null

),

{% endif -%}
{#- the events of the messages whose cohorts are counted: on an incremental run, the candidates' #}
message_events as (

    select all_events.*
    from all_events
    {%- if is_incremental() %}
    inner join candidate_messages
        on
            all_events.source_vendor = candidate_messages.source_vendor
            and coalesce(all_events.channel, '') = candidate_messages.channel_key
            and coalesce(all_events.campaign_id, '') = candidate_messages.campaign_key
            and all_events.message_key = candidate_messages.message_key
    {#- implied by the message key, as in `affected` #}
    where all_events.contact_key in (select distinct candidate_messages.contact_key from candidate_messages)
    {%- endif %}

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
        count(distinct case when event_type = 'opened' and not is_machine_event then message_key end)
            as unique_opens,
        count(distinct case when event_type = 'clicked' and not is_machine_event then message_key end)
            as unique_clicks,
        {{ engagement.count_where("event_type = 'opened' and is_machine_event") }} as machine_opens,
        {{ engagement.count_where("event_type = 'clicked' and is_machine_event") }} as machine_clicks,
        {{ engagement.count_where("event_type = 'unsubscribed'") }} as unsubscribes,
        {{ engagement.count_where("event_type = 'spam_reported'") }} as spam_reports,
        count(*) as events,
        max(loaded_at) as last_loaded_at
    from events
    group by 1, 2, 3, 4

),

message_summaries as (

    {#- each message once: its cohort day (the day the contact's message was sent, or delivered for a vendor that
        reports no sends) and what happened to it; a message is opened or clicked once however many times -#}
    select
        source_vendor,
        channel,
        campaign_id,
        message_key,
        min(case when event_type in ('sent', 'delivered') and contact_key is not null then occurred_date end)
            as cohort_date,
        {{ engagement.count_where("event_type = 'sent'") }} as sends,
        {{ engagement.count_where("event_type = 'delivered'") }} as delivered_events,
        {{ engagement.count_where("event_type = 'bounced'") }} as bounces,
        max(case when event_type = 'opened' and not is_machine_event then 1 else 0 end) as is_opened,
        max(case when event_type = 'clicked' and not is_machine_event then 1 else 0 end) as is_clicked,
        {{ engagement.count_where("event_type = 'unsubscribed'") }} as unsubscribes,
        {{ engagement.count_where("event_type = 'spam_reported'") }} as spam_reports
    from message_events
    where message_key is not null
    group by 1, 2, 3, 4

),

cohort_counts as (

    {#- per cohort day: the same as counting its messages' events with distinct message keys for the unique
        opens and clicks, without a second pass over the events (20 % less CPU at 10 M) -#}
    select
        cohort_date,
        source_vendor,
        channel,
        campaign_id,
        cast(sum(sends) as {{ dbt.type_bigint() }}) as sends,
        cast(sum(delivered_events) as {{ dbt.type_bigint() }}) as delivered_events,
        cast(sum(bounces) as {{ dbt.type_bigint() }}) as bounces,
        cast(sum(is_opened) as {{ dbt.type_bigint() }}) as unique_opens,
        cast(sum(is_clicked) as {{ dbt.type_bigint() }}) as unique_clicks,
        cast(sum(unsubscribes) as {{ dbt.type_bigint() }}) as unsubscribes,
        cast(sum(spam_reports) as {{ dbt.type_bigint() }}) as spam_reports
    from message_summaries
    where cohort_date is not null
    group by 1, 2, 3, 4

),

cohort_based as (

    select
        cohort_counts.*,
        {# a vendor without delivery events (Sailthru email, push) delivers what did not bounce #}
        case
            when reported.reports_delivered = 1 then cohort_counts.delivered_events
            when reported.reports_sent = 1 then greatest(cohort_counts.sends - cohort_counts.bounces, 0)
            else cohort_counts.delivered_events
        end as deliveries,
        coalesce(reported.reports_sent, 0) = 1 as has_sends,
        coalesce(reported.reports_delivered, 0) = 1 or coalesce(reported.reports_sent, 0) = 1 as has_deliveries,
        coalesce(reported.reports_bounced, 0) = 1 as has_bounces,
        coalesce(reported.reports_opened, 0) = 1 as has_opens,
        coalesce(reported.reports_clicked, 0) = 1 as has_clicks,
        coalesce(reported.reports_unsubscribed, 0) = 1 as has_unsubscribes,
        coalesce(reported.reports_spam, 0) = 1 as has_spam_reports
    from cohort_counts
    left join reported
        on
            cohort_counts.source_vendor = reported.source_vendor
            and coalesce(cohort_counts.channel, '') = coalesce(reported.channel, '')

),

cohorts as (

    select
        cohort_date,
        source_vendor,
        channel,
        campaign_id,
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
    from cohort_based

),

based as (

    select
        counted.*,
        case
            when reported.reports_delivered = 1 then counted.delivered_events
            when reported.reports_sent = 1 then greatest(counted.sends - counted.bounces, 0)
            else counted.delivered_events
        end as deliveries,
        coalesce(cohorts.delivery_rate_numerator, 0) as delivery_rate_numerator,
        coalesce(cohorts.delivery_rate_denominator, 0) as delivery_rate_denominator,
        coalesce(cohorts.bounce_rate_numerator, 0) as bounce_rate_numerator,
        coalesce(cohorts.bounce_rate_denominator, 0) as bounce_rate_denominator,
        coalesce(cohorts.open_rate_numerator, 0) as open_rate_numerator,
        coalesce(cohorts.open_rate_denominator, 0) as open_rate_denominator,
        coalesce(cohorts.click_through_rate_numerator, 0) as click_through_rate_numerator,
        coalesce(cohorts.click_through_rate_denominator, 0) as click_through_rate_denominator,
        coalesce(cohorts.click_to_open_rate_numerator, 0) as click_to_open_rate_numerator,
        coalesce(cohorts.click_to_open_rate_denominator, 0) as click_to_open_rate_denominator,
        coalesce(cohorts.unsubscribe_rate_numerator, 0) as unsubscribe_rate_numerator,
        coalesce(cohorts.unsubscribe_rate_denominator, 0) as unsubscribe_rate_denominator,
        coalesce(cohorts.complaint_rate_numerator, 0) as complaint_rate_numerator,
        coalesce(cohorts.complaint_rate_denominator, 0) as complaint_rate_denominator
    from counted
    left join reported
        on
            counted.source_vendor = reported.source_vendor
            and coalesce(counted.channel, '') = coalesce(reported.channel, '')
    left join cohorts
        on
            counted.occurred_date = cohorts.cohort_date
            and counted.source_vendor = cohorts.source_vendor
            and coalesce(counted.channel, '') = coalesce(cohorts.channel, '')
            and coalesce(counted.campaign_id, '') = coalesce(cohorts.campaign_id, '')

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
        delivery_rate_numerator,
        delivery_rate_denominator,
        {{ engagement.safe_ratio('delivery_rate_numerator', 'delivery_rate_denominator') }} as delivery_rate,
        bounce_rate_numerator,
        bounce_rate_denominator,
        {{ engagement.safe_ratio('bounce_rate_numerator', 'bounce_rate_denominator') }} as bounce_rate,
        open_rate_numerator,
        open_rate_denominator,
        {{ engagement.safe_ratio('open_rate_numerator', 'open_rate_denominator') }} as open_rate,
        click_through_rate_numerator,
        click_through_rate_denominator,
        {{ engagement.safe_ratio('click_through_rate_numerator', 'click_through_rate_denominator') }}
            as click_through_rate,
        click_to_open_rate_numerator,
        click_to_open_rate_denominator,
        {{ engagement.safe_ratio('click_to_open_rate_numerator', 'click_to_open_rate_denominator') }}
            as click_to_open_rate,
        unsubscribe_rate_numerator,
        unsubscribe_rate_denominator,
        {{ engagement.safe_ratio('unsubscribe_rate_numerator', 'unsubscribe_rate_denominator') }} as unsubscribe_rate,
        complaint_rate_numerator,
        complaint_rate_denominator,
        {{ engagement.safe_ratio('complaint_rate_numerator', 'complaint_rate_denominator') }} as complaint_rate,
        last_loaded_at
    from based

)

select * from final
