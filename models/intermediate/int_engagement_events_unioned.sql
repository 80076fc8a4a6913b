{#- Every enabled vendor's events on the canonical columns, duplicates included: the incremental mart
    filters this view on loaded_at before it dedupes, so the filter reaches the raw scans. -#}
with

unioned as (

    {{ engagement.union_canonical(engagement.enabled_vendor_adapters()) }}

)

select * from unioned
