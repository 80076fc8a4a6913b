{#- Campaign, template and lifecycle-flow names from the vendors' lookup tables, one row per vendor, kind and
    id: Sailthru's campaign, template and lifecycle_optimizer_flow lookups (latest snapshot per key). No other
    vendor sends lookups (their names come from the events). Zero rows when Sailthru is switched off. -#}
{%- if var('engagement__using_sailthru') %}

    with

    campaigns as (

        select * from {{ ref('stg_sailthru__campaign') }}

    ),

    templates as (

        select * from {{ ref('stg_sailthru__template') }}

    ),

    flows as (

        select * from {{ ref('stg_sailthru__lifecycle_optimizer_flow') }}

    ),

    final as (

        select
            'sailthru' as source_vendor,
            'campaign' as campaign_kind,
            campaign_id,
            name as campaign_name,
            subject,
            created_at
        from campaigns

        union all

        {#- triggered mail has no campaign: its template is the campaign (int_sailthru__events does the same) #}
        select
            'sailthru' as source_vendor,
            'campaign' as campaign_kind,
            'template:' || template_id as campaign_id,
            name as campaign_name,
            subject,
            created_at
        from templates

        union all

        select
            'sailthru' as source_vendor,
            'flow' as campaign_kind,
            flow_id as campaign_id,
            name as campaign_name,
            cast(null as {{ dbt.type_string() }}) as subject,
            created_at
        from flows

    )

    select * from final

{%- else %}

select
    cast(null as {{ dbt.type_string() }}) as source_vendor,
    cast(null as {{ dbt.type_string() }}) as campaign_kind,
    cast(null as {{ dbt.type_string() }}) as campaign_id,
    cast(null as {{ dbt.type_string() }}) as campaign_name,
    cast(null as {{ dbt.type_string() }}) as subject,
    cast(null as {{ dbt.type_timestamp() }}) as created_at
where 1 = 0

{%- endif %}
