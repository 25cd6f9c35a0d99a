{#-
    Incremental by learner x item: a landed row keeps its learner_id and item_id whenever it is
    re-decided, so the pairs of the rows stg_attempts_landed decided since this model last ran
    are the only pairs that can have changed. Each such pair is rebuilt from all its cleaned
    rows. A pair left without any (its only attempt became a duplicate or was rejected) gets one
    placeholder row, so delete+insert removes its old rows; the post-hook drops placeholders.
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
    CTE read twice, here every landed attempt with all its columns on each daily run. -#}
{%- set landed = ref('stg_attempts_landed') %}
with

{% if is_incremental() and attempt_chain_by_bucket() %}
-- Spark: every cleaned row of the changed learner buckets (insert_overwrite replaces them).
changed_buckets as (
    {{ changed_learner_buckets(landed) }}
),

attempts as (
    select *
    from {{ landed }}
    where row_status = 'cleaned'
        and learner_bucket in (select learner_bucket from changed_buckets)
),
{% elif is_incremental() %}
changed_pairs as (
    {{ changed_attempt_pairs(landed) }}
),

attempts as (
    select landed.*
    from {{ landed }} as landed
    inner join changed_pairs
        on landed.learner_id = changed_pairs.learner_id
        and landed.item_id = changed_pairs.item_id
    where landed.row_status = 'cleaned'
),
{% else %}
attempts as (
    select * from {{ landed }}
    where row_status = 'cleaned'
),
{% endif %}

-- attempt_number is the platform's when given, else the order of submission within
-- learner x item.
numbered as (
    select
        attempts.*,
        row_number() over (
            partition by learner_id, item_id
            order by submitted_at, attempt_id
        ) as submission_order
    from attempts
),

final as (
    select
        attempt_id,
        learner_id,
        item_id,
        submitted_at,
        score,
        max_score,
        score / max_score as score_normalised,
        cast(coalesce(given_attempt_number, submission_order) as integer) as attempt_number,
        source_file,
        load_id,
        (select max(processed_at) from {{ landed }}) as landed_processed_at{{ learner_bucket_column('learner_id') }}
    from numbered
    {%- if is_incremental() and not attempt_chain_by_bucket() %}
    union all
    -- Placeholder for a changed pair without cleaned attempts (deleted by the post-hook).
    select
        null, changed_pairs.learner_id, changed_pairs.item_id,
        null, null, null, null, null, null, null,
        (select max(processed_at) from {{ landed }})
    from changed_pairs
    anti join attempts
        on changed_pairs.learner_id = attempts.learner_id
        and changed_pairs.item_id = attempts.item_id
    {%- endif %}
)

select * from final
