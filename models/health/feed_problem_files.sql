{#- Every file that did not load as it is: quarantined (the reason is the loader's), unrecognized (no layout
    route matches its path) and Simon data files waiting for their control file. `reason_kind` is the
    reason without the file's name and numbers, so the same problem in many files counts as one kind. -#}
with

files as (

    select * from {{ ref('stg_loader__files') }}

),

waiting as (

    select * from {{ ref('stg_loader__waiting_files') }}

),

problems as (

    select
        feed,
        source_vendor,
        uri,
        file_version,
        status as problem,
        error as reason,
        load_id,
        recorded_at as noticed_at
    from files
    where status in ('quarantined', 'unrecognized')

    union all

    select
        waiting.feed,
        cast(null as {{ dbt.type_string() }}) as source_vendor,
        waiting.uri,
        cast(null as {{ dbt.type_string() }}) as file_version,
        'waiting' as problem,
        waiting.reason,
        cast(null as {{ dbt.type_string() }}) as load_id,
        waiting.checked_at as noticed_at
    from waiting

),

final as (

    select
        {{ engagement.surrogate_key(['problem', 'feed', 'uri', 'file_version', 'load_id']) }} as problem_file_id,
        feed,
        source_vendor,
        uri,
        file_version,
        problem,
        reason,
        -- the reason without the file's own name (it starts most messages) and with digits folded
        coalesce(
            nullif(
                left(
                    trim(regexp_replace(
                        regexp_replace(replace(coalesce(reason, ''), uri || ':', ''), '[0-9]+', '#', 'g'),
                        '\s+', ' ', 'g'
                    )),
                    120
                ),
                ''
            ),
            problem
        ) as reason_kind,
        load_id,
        noticed_at,
        cast(noticed_at as date) as noticed_date
    from problems

)

select * from final
