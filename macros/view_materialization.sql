{#- DuckDB views in one statement. dbt's default view materialization creates the view under a temporary
    name, renames the old view away, renames the new one in, commits and drops the old one: five statements
    and their cache updates for each of the ~33 views every `dbt build` re-creates. DuckDB's DDL is
    transactional, so `create or replace view` swaps the view in one atomic statement: a reader sees the old
    view or the new one, never none (docs/decisions.md, issue 17). A table in the view's place (the model was
    a table before) is dropped first, in the same transaction. Other adapters keep dbt's own. -#}
{%- materialization view, adapter='duckdb' -%}

    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set grant_config = config.get('grants') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if existing_relation is not none and not existing_relation.is_view %}
        {{ adapter.drop_relation(existing_relation) }}
    {%- endif %}

    {%- set contract_config = config.get('contract') %}
    {%- if contract_config.enforced %}
        {{ get_assert_columns_equivalent(sql) }}
    {%- endif %}
    {%- set sql_header = config.get('sql_header', none) %}

    {% call statement('main') -%}
        {{ sql_header if sql_header is not none }}
        create or replace view {{ target_relation }} as (
            {{ sql }}
        );
    {%- endcall %}

    {%- set should_revoke = should_revoke(existing_relation, full_refresh_mode=True) %}
    {%- do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
    {%- do persist_docs(target_relation, model) %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}

{%- endmaterialization -%}
