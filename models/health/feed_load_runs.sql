{#- One row per `feeds load` run: how long it took, what it moved, how fast, and how it ended. A run with
    ledger rows but no row in loader.loads never finished (killed, or still running): outcome `unfinished`,
    its times taken from its files. -#}
with

loads as (

    select * from {{ ref('stg_loader__loads') }}

),

files as (

    select * from {{ ref('stg_loader__files') }}

),

rejects as (

    select * from {{ ref('stg_loader__rejects') }}

),

file_runs as (

    select
        load_id,
        min(recorded_at) as first_recorded_at,
        max(recorded_at) as last_recorded_at,
        {{ engagement.count_where("status in ('loaded', 'replaced')") }} as files_loaded,
        {{ engagement.count_where("status = 'quarantined'") }} as files_quarantined,
        {{ engagement.count_where("status in ('unrecognized', 'unrecognized_cleared')") }}
            as files_unrecognized,
        cast(sum(case when status in ('loaded', 'replaced') then row_count else 0 end) as {{ dbt.type_bigint() }})
            as rows_loaded,
        cast(sum(case when status in ('loaded', 'replaced') then size_bytes else 0 end) as {{ dbt.type_bigint() }})
            as bytes_loaded,
        count(distinct feed) as feeds_with_files
    from files
    group by load_id

),

reject_runs as (

    select
        load_id,
        cast(count(*) as {{ dbt.type_bigint() }}) as rows_rejected
    from rejects
    group by load_id

),

runs as (

    select
        coalesce(loads.load_id, file_runs.load_id) as load_id,
        coalesce(loads.started_at, file_runs.first_recorded_at) as started_at,
        loads.finished_at,
        loads.feed_list,
        coalesce(loads.outcome, 'unfinished') as outcome,
        coalesce(loads.files_loaded, file_runs.files_loaded, 0) as files_loaded,
        coalesce(loads.files_quarantined, file_runs.files_quarantined, 0) as files_quarantined,
        coalesce(file_runs.files_unrecognized, 0) as files_unrecognized,
        coalesce(loads.rows_loaded, file_runs.rows_loaded, 0) as rows_loaded,
        coalesce(file_runs.bytes_loaded, 0) as bytes_loaded,
        coalesce(file_runs.feeds_with_files, 0) as feeds_with_files,
        {{ dbt.datediff(
            'coalesce(loads.started_at, file_runs.first_recorded_at)',
            'coalesce(loads.finished_at, file_runs.last_recorded_at)',
            'millisecond') }} / 1000.0 as duration_seconds
    from loads
    full outer join file_runs
        on loads.load_id = file_runs.load_id

),

final as (

    select
        runs.load_id,
        runs.started_at,
        cast(runs.started_at as date) as started_date,
        runs.finished_at,
        runs.duration_seconds,
        runs.feed_list,
        runs.outcome,
        runs.files_loaded,
        runs.files_quarantined,
        runs.files_unrecognized,
        runs.rows_loaded,
        coalesce(reject_runs.rows_rejected, 0) as rows_rejected,
        runs.bytes_loaded,
        cast(runs.feeds_with_files as {{ dbt.type_bigint() }}) as feeds_with_files,
        {{ engagement.safe_ratio('runs.rows_loaded', 'runs.duration_seconds') }} as rows_per_second
    from runs
    left join reject_runs
        on runs.load_id = reject_runs.load_id

)

select * from final
