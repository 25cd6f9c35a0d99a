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


{#- How the attempt chain is incremental per engine. DuckDB: delete+insert by the model's
    unique_key. Spark on Parquet has no delete (merge needs Delta or Iceberg, which do not work
    offline here), so there the chain is partitioned by a learner bucket (learner_bucket below)
    and a refresh rewrites whole buckets with insert_overwrite (dbt-spark sets
    spark.sql.sources.partitionOverwriteMode = DYNAMIC for it): the buckets of the learners
    whose rows changed, each rebuilt from all its rows (docs/scale-out.md, incremental). -#}
{% macro attempt_chain_by_bucket() -%}
    {{ return(adapter.dispatch('attempt_chain_by_bucket')()) }}
{%- endmacro %}

{% macro default__attempt_chain_by_bucket() -%}
    {{ return(false) }}
{%- endmacro %}

{% macro spark__attempt_chain_by_bucket() -%}
    {{ return(true) }}
{%- endmacro %}

{% macro attempt_chain_strategy() -%}
    {{ return('insert_overwrite' if attempt_chain_by_bucket() else 'delete+insert') }}
{%- endmacro %}

{% macro attempt_chain_partition() -%}
    {{ return('learner_bucket' if attempt_chain_by_bucket() else none) }}
{%- endmacro %}


{#- The bucket of a (clean) learner_id, 0 to var learner_buckets - 1; a NULL learner_id has
    one bucket too (xxhash64 of NULL is its seed). -#}
{% macro learner_bucket_of(learner_id) -%}
    cast(pmod(xxhash64({{ learner_id }}), {{ var('learner_buckets') }}) as int)
{%- endmacro %}

{#- The partition column, last of a chain model's columns: on Spark only, so DuckDB builds
    exactly the same tables as before (the engine test ignores the column). -#}
{% macro learner_bucket_column(learner_id) -%}
    {%- if attempt_chain_by_bucket() -%}
        ,
        {{ learner_bucket_of(learner_id) }} as learner_bucket
    {%- endif -%}
{%- endmacro %}


{#- Spark: the buckets whose rows stg_attempts_landed decided since this model last ran (its
    watermark, max of landed_processed_at); downstream models rewrite exactly these. -#}
{% macro changed_learner_buckets(landed) -%}
    select distinct learner_bucket
    from {{ landed }}
    where processed_at > (
        select coalesce(max(landed_processed_at), timestamp '0001-01-01') from {{ this }}
    )
{%- endmacro %}


{#- The post-hook of stg_attempts and int_attempts_scored. DuckDB: drop the placeholders of
    changed pairs left without attempts. Spark: insert_overwrite leaves a bucket alone when the
    new rows have none of it, so drop the partitions of buckets that have no cleaned attempt
    left (every learner in them lost all theirs); a table rebuild leaves none. -#}
{% macro drop_attempt_placeholders() -%}
    {{ return(adapter.dispatch('drop_attempt_placeholders')()) }}
{%- endmacro %}

{% macro default__drop_attempt_placeholders() -%}
    delete from {{ this }} where attempt_id is null
{%- endmacro %}

{% macro spark__drop_attempt_placeholders() -%}
    {%- if execute -%}
        {%- set emptied = run_query(
            "select distinct learner_bucket from " ~ this ~ " except select distinct "
            ~ "learner_bucket from " ~ ref('stg_attempts_landed') ~ " where row_status = 'cleaned'"
        ) -%}
        {%- for row in emptied.rows -%}
            {%- do run_query(
                "alter table " ~ this ~ " drop if exists partition (learner_bucket = "
                ~ row[0] ~ ")"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
