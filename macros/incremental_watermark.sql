{#- Newest `column` in the existing mart minus `lookback_hours`, as text; None when the mart is empty.
    One aggregate over one column: the mart is never joined wholesale. -#}
{% macro incremental_watermark(relation, column, lookback_hours) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set query -%}
        select cast({{ dbt.dateadd('hour', -1 * lookback_hours, 'max(' ~ column ~ ')') }} as {{ dbt.type_string() }})
        from {{ relation }}
    {%- endset -%}
    {%- set value = run_query(query).columns[0].values()[0] -%}
    {{ return(value) }}
{%- endmacro %}

{#- The incremental filter on loaded_at; `true` on a full refresh (no watermark). -#}
{% macro loaded_after(watermark) -%}
    {%- if watermark is none -%}
        true
    {%- else -%}
        loaded_at > {{ engagement.try_cast("'" ~ watermark ~ "'", dbt.type_timestamp()) }}
    {%- endif -%}
{%- endmacro %}

{#- `where` of the data tests on views and on the incremental fact: on a full refresh every row is tested;
    on an incremental run only rows loaded inside the window the mart just read (its newest loaded_at minus
    the lookback), so the tests cost what the new data costs instead of re-reading all raw history. -#}
{% macro test_window() -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set watermark = engagement.fact_watermark() -%}
    {%- if watermark is none -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {{ return('loaded_at >= ' ~ engagement.try_cast("'" ~ watermark ~ "'", dbt.type_timestamp())) }}
{%- endmacro %}

{#- The fact's watermark (its newest loaded_at minus the lookback, as text); None when the fact is absent or
    empty. -#}
{% macro fact_watermark() -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {#- the fact's relation from the graph (its configured schema and alias), not a name pasted together; a ref
        here would make every windowed test depend on the fact. Looked up by its id, the graph's key. -#}
    {%- set node = graph.nodes.get('model.engagement.fct_engagement_events') -%}
    {%- if node is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set fct = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
    {%- if fct is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(engagement.incremental_watermark(fct, 'loaded_at', var('engagement__lookback_hours'))) }}
{%- endmacro %}
