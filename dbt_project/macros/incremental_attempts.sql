{#- The attempt chain's incremental rule (docs/interfaces.md, staging), in one place.

    stg_attempts_landed stamps every row it (re)decides with processed_at. A landed row keeps
    its learner_id and item_id whenever it is re-decided, so the learner x item pairs of the
    rows decided after a downstream model's watermark (max of its landed_processed_at) are the
    only pairs whose attempts can have changed for it. -#}
{% macro changed_attempt_pairs(landed) -%}
    select distinct learner_id, item_id
    from {{ landed }}
    where processed_at > (
        select coalesce(max(landed_processed_at), '-infinity'::timestamp) from {{ this }}
    )
        and learner_id is not null
        and item_id is not null
{%- endmacro %}


{#- How the attempt chain materialises per engine. DuckDB: incremental delete+insert by the
    model's unique_key. Spark on Parquet has no delete (merge needs Delta or Iceberg, which do
    not work offline here), so the chain is rebuilt as a table on every refresh: a daily
    increment then equals a rebuild by construction (docs/scale-out.md). -#}
{% macro attempt_chain_materialization() -%}
    {{ return(adapter.dispatch('attempt_chain_materialization')()) }}
{%- endmacro %}

{% macro default__attempt_chain_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__attempt_chain_materialization() -%}
    {{ return('table') }}
{%- endmacro %}


{#- The post-hook that drops the placeholders of changed pairs left without attempts; a
    table rebuild never writes placeholders. -#}
{% macro drop_attempt_placeholders() -%}
    {{ return(adapter.dispatch('drop_attempt_placeholders')()) }}
{%- endmacro %}

{% macro default__drop_attempt_placeholders() -%}
    delete from {{ this }} where attempt_id is null
{%- endmacro %}

{% macro spark__drop_attempt_placeholders() -%}
{%- endmacro %}
