{#- Rejected rows per feed x UTC day x reason, digits of the reason folded to '#' so one problem on many
    lines counts as one kind. -#}
with

rejects as (

    select * from {{ ref('stg_loader__rejects') }}

),

kinds as (

    select
        feed,
        cast(rejected_at as date) as activity_date,
        coalesce(
            nullif(left(trim(regexp_replace(coalesce(reason, ''), '[0-9]+', '#', 'g')), 120), ''),
            'rejected'
        ) as reason_kind
    from rejects

),

final as (

    select
        {{ engagement.surrogate_key(['feed', 'activity_date', 'reason_kind']) }} as feed_reject_reason_id,
        feed,
        activity_date,
        reason_kind,
        cast(count(*) as {{ dbt.type_bigint() }}) as rows_rejected
    from kinds
    group by feed, activity_date, reason_kind

)

select * from final
