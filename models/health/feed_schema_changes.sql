{#- Every column a raw table gained, attributed to the feed whose file first carried it. The columns a
    table was created with (its first load) are flagged `is_initial`; the others are schema drift. -#}
with

changes as (

    select * from {{ ref('stg_loader__schema_changes') }}

),

files as (

    select * from {{ ref('stg_loader__files') }}

),

file_feeds as (

    select
        uri,
        load_id,
        min(feed) as feed
    from files
    group by uri, load_id

),

table_feeds as (

    -- the fallback when the first file has no ledger row: the feed that loads the table
    select
        raw_table,
        min(feed) as feed
    from files
    group by raw_table

),

ordered as (

    select
        changes.*,
        first_value(changes.load_id) over (
            partition by changes.raw_table
            order by changes.seen_at, changes.column_name
        ) as creating_load_id
    from changes

),

final as (

    select
        {{ engagement.surrogate_key(['ordered.raw_table', 'ordered.column_name', 'ordered.load_id']) }}
            as schema_change_id,
        coalesce(file_feeds.feed, table_feeds.feed) as feed,
        ordered.source_vendor,
        ordered.raw_table,
        ordered.column_name,
        ordered.column_type,
        ordered.first_uri,
        ordered.load_id,
        ordered.seen_at,
        cast(ordered.seen_at as date) as seen_date,
        ordered.load_id = ordered.creating_load_id as is_initial
    from ordered
    left join file_feeds
        on ordered.first_uri = file_feeds.uri and ordered.load_id = file_feeds.load_id
    left join table_feeds
        on ordered.raw_table = table_feeds.raw_table

)

select * from final
