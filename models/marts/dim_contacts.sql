{%- set on_spark = target.type == 'spark' -%}
{{
    config(
        materialized='table' if on_spark else 'incremental',
        incremental_strategy=none if on_spark else 'delete+insert',
        unique_key=none if on_spark else 'contact_key',
        on_schema_change='fail',
    )
}}

{#- Incremental on DuckDB: the contacts of the fact rows loaded since this mart's newest last_loaded_at (minus
    the lookback), each recomputed from ALL its events, replace their rows; a full refresh (and Spark, where the
    mart is a table) builds every contact. See docs/decisions.md (issue 17). -#}
{%- set watermark = none -%}
{%- if is_incremental() -%}
    {%- set watermark = engagement.incremental_watermark(this, 'last_loaded_at', var('engagement__lookback_hours')) -%}
{%- endif %}

with

{% if is_incremental() -%}
touched as (

    select distinct contact_key
    from {{ ref('fct_engagement_events') }}
    where {{ engagement.loaded_after(watermark) }} and contact_key is not null

),

{% endif -%}
events as (

    select events.*
    from {{ ref('fct_engagement_events') }} as events
    {%- if is_incremental() %}
    inner join touched
        on events.contact_key = touched.contact_key
    {%- endif %}
    where events.contact_key is not null

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
        max(case when event_type = 'bounced' and bounce_type = 'hard' then occurred_at end) as last_hard_bounced_at,
        max(loaded_at) as last_loaded_at
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
        end as subscription_state,
        summary.last_loaded_at
    from summary
    inner join vendor_lists
        on summary.contact_key = vendor_lists.contact_key

)

select * from final
