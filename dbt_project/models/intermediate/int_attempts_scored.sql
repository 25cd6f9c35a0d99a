{#-
    Which attempt of a learner at an item is scored (var scored_attempt): first (default; later
    attempts are practice after feedback), last, or best (highest score, earliest on ties).
-#}
{%- set scored_attempt = var('scored_attempt') -%}
{%- set orderings = {
    'first': 'attempt_number, submitted_at, attempt_id',
    'last': 'attempt_number desc, submitted_at desc, attempt_id desc',
    'best': 'score_normalised desc, attempt_number, submitted_at, attempt_id',
} -%}
{%- if scored_attempt not in orderings -%}
    {{ exceptions.raise_compiler_error(
        "var scored_attempt must be one of first, last, best; got '" ~ scored_attempt ~ "'"
    ) }}
{%- endif -%}

{#-
    Incremental by learner x item, like stg_attempts: the pairs of the rows stg_attempts_landed
    decided since this model last ran are re-scored from stg_attempts (already up to date for
    them); a pair without attempts left gets a placeholder that the post-hook deletes.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=attempt_chain_strategy(),
    partition_by=attempt_chain_partition(),
    unique_key=['learner_id', 'item_id'],
    on_schema_change='fail',
    post_hook="{{ drop_attempt_placeholders() }}",
) }}

{#- stg_attempts_landed is named where it is read, not through a CTE: DuckDB materializes a
    CTE read more than once, here every landed attempt with all its columns on every run. -#}
{%- set landed = ref('stg_attempts_landed') %}
with

{% if is_incremental() and attempt_chain_by_bucket() %}
-- Spark: every attempt of the changed learner buckets (insert_overwrite replaces them).
changed_buckets as (
    {{ changed_learner_buckets(landed) }}
),

attempts as (
    select *
    from {{ ref('stg_attempts') }}
    where learner_bucket in (select learner_bucket from changed_buckets)
),
{% elif is_incremental() %}
changed_pairs as (
    {{ changed_attempt_pairs(landed) }}
),

attempts as (
    select stg_attempts.*
    from {{ ref('stg_attempts') }} as stg_attempts
    inner join changed_pairs
        on stg_attempts.learner_id = changed_pairs.learner_id
        and stg_attempts.item_id = changed_pairs.item_id
),
{% else %}
attempts as (select * from {{ ref('stg_attempts') }}),
{% endif %}

ranked_attempts as (
    select
        attempts.*,
        row_number() over (
            partition by learner_id, item_id
            order by {{ orderings[scored_attempt] }}
        ) as scored_rank,
        count(*) over (partition by learner_id, item_id) as n_attempts
    from attempts
),

final as (
    select
        learner_id,
        item_id,
        attempt_id,
        submitted_at,
        score_normalised,
        n_attempts,
        (select max(processed_at) from {{ landed }}) as landed_processed_at{{ learner_bucket_column('learner_id') }}
    from ranked_attempts
    where scored_rank = 1
    {%- if is_incremental() and not attempt_chain_by_bucket() %}
    union all
    -- Placeholder for a changed pair without attempts (deleted by the post-hook).
    select
        changed_pairs.learner_id, changed_pairs.item_id, null, null, null, null,
        (select max(processed_at) from {{ landed }})
    from changed_pairs
    anti join attempts
        on changed_pairs.learner_id = attempts.learner_id
        and changed_pairs.item_id = attempts.item_id
    {%- endif %}
)

select * from final
