{#- Every enabled vendor's events on the canonical columns, duplicates included: the incremental mart
    filters this view on loaded_at before it dedupes, so the filter reaches the raw scans. A vendor switched
    off (`engagement__using_<vendor>: false`) has no adapter model and no branch here. -#}
{%- set vendor_events = [] -%}
{%- if var('engagement__using_sailthru') -%}{%- do vendor_events.append(ref('int_sailthru__events')) -%}{%- endif -%}
{%- if var('engagement__using_simon') -%}{%- do vendor_events.append(ref('int_simon__events')) -%}{%- endif -%}
{%- if var('engagement__using_apsis') -%}{%- do vendor_events.append(ref('int_apsis__events')) -%}{%- endif -%}
{%- if var('engagement__using_encharge') -%}{%- do vendor_events.append(ref('int_encharge__events')) -%}{%- endif -%}
{%- if var('engagement__using_leanplum') -%}{%- do vendor_events.append(ref('int_leanplum__events')) -%}{%- endif %}
with

unioned as (

    {{ engagement.union_canonical(vendor_events) }}

)

select * from unioned
