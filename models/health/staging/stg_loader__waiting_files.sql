{#- Simon data files waiting for their control file, as of each feed's latest load (the loader keeps only
    the current set: `checked_at` is that load's time, not when the file first waited). -#}
with

state as (

    select * from {{ source('loader', 'state') }}

),

final as (

    select
        feed,
        substr(key, {{ 'waiting:' | length + 1 }}) as uri,
        value as reason,
        updated_at as checked_at
    from state
    where key like 'waiting:%'

)

select * from final
