with

unioned as (

    select * from {{ ref('int_engagement_events_unioned') }}

),

deduped as (

    {{ engagement.dedupe_events('unioned') }}

)

select * from deduped
