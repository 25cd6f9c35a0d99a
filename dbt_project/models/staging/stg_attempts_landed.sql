{#-
    Incremental: attempts are append-only events, so a refresh reads only what can have
    changed (docs: incremental attempts):
    - rows of loads newer than any processed (new files);
    - every copy of an attempt_id whose verdict can change without new rows: rejected for
      future_timestamp or a missing parent (the clock moved, the parent may have landed),
      rejected as score_out_of_range or partial_score_on_quiz (the item may have changed),
      typed against an item whose max_score changed since, or with a partial score on an
      item that is now a quiz (an assignment out of 1 that became a quiz keeps its max_score).
    All landed copies of such an attempt_id are re-read, so the first valid copy is chosen
    among all of them exactly as in a full rebuild; rows are replaced by (load_id, row_number).
    `dbt build --full-refresh` rebuilds from raw.attempts, and gives the same table.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=attempt_chain_strategy(),
    partition_by=attempt_chain_partition(),
    unique_key=['load_id', 'row_number'],
    on_schema_change='fail',
) }}

with

{% if is_incremental() %}
processed as (
    select coalesce(max(load_id), -1) as max_load_id from {{ this }}
),

reopened_attempts as (
    select landed.attempt_id
    from {{ this }} as landed
    left join {{ ref('stg_items') }} as items on landed.item_id = items.item_id
    where landed.attempt_id is not null
        and (
            landed.reject_reason in (
                'voided',
                'future_timestamp',
                'score_out_of_range',
                'partial_score_on_quiz',
                'unknown_learner',
                'unknown_item'
            )
            or landed.max_score is distinct from items.max_score
            -- The item became a quiz with the same max_score (an assignment out of 1).
            or (items.item_type = 'quiz' and landed.score > 0 and landed.score < 1)
        )
),

{% if attempt_chain_by_bucket() -%}
{#- Spark rewrites whole learner buckets: those of the rows re-decided above (new loads, every
    copy of a new or reopened attempt_id), each from all its landed rows. Copies of an
    attempt_id in other buckets (another learner_id) are re-read too, so copies rank as in a
    full rebuild, but only the rewritten buckets are kept (the filter at the end). -#}
new_rows as (
    select
        {{ clean_text('attempt_id') }} as attempt_id,
        {{ learner_bucket_of(clean_text('learner_id')) }} as learner_bucket
    from {{ ref('stg_attempt_rows') }}
    where _touched_load_id > (select max_load_id from processed)
),

rewritten_buckets as (
    select learner_bucket from new_rows
    union
    select learner_bucket
    from {{ this }}
    where attempt_id in (
        select attempt_id from reopened_attempts
        union
        select attempt_id from new_rows
    )
),

ranked_attempt_ids as (
    select attempt_id
    from {{ this }}
    where learner_bucket in (select learner_bucket from rewritten_buckets)
    union
    select attempt_id from new_rows
),

landed as (
    select *
    from {{ ref('stg_attempt_rows') }}
    where _touched_load_id > (select max_load_id from processed)
        or {{ clean_text('attempt_id') }} in (select attempt_id from ranked_attempt_ids)
        or {{ learner_bucket_of(clean_text('learner_id')) }} in (
            select learner_bucket from rewritten_buckets
        )
),
{% else -%}
landed as (
    select *
    from {{ ref('stg_attempt_rows') }}
    where _touched_load_id > (select max_load_id from processed)
        or {{ clean_text('attempt_id') }} in (
            select attempt_id from reopened_attempts
            union
            select {{ clean_text('attempt_id') }}
            from {{ ref('stg_attempt_rows') }}
            where _touched_load_id > (select max_load_id from processed)
        )
),
{% endif -%}
{% else %}
landed as (select * from {{ ref('stg_attempt_rows') }}),
{% endif %}

learners as (select * from {{ ref('stg_learners') }}),

items as (select * from {{ ref('stg_items') }}),

typed as (
    select
        attempt_id as landed_attempt_id,
        learner_id as landed_learner_id,
        item_id as landed_item_id,
        submitted_at as landed_submitted_at,
        score as landed_score,
        attempt_number as landed_attempt_number,
        {{ clean_text('attempt_id') }} as attempt_id,
        {{ clean_text('learner_id') }} as learner_id,
        {{ clean_text('item_id') }} as item_id,
        {{ parse_utc_timestamp('submitted_at') }} as submitted_at,
        {{ parse_number('score') }} as score,
        {{ parse_integer('attempt_number') }} as given_attempt_number,
        is_voided,
        _source_file as source_file,
        _load_id as load_id,
        _row_number as row_number
    from landed
),

checked as (
    select
        typed.*,
        items.max_score,
        case
            -- A voiding statement took the attempt statement back (stg_statements_landed).
            when typed.is_voided then 'voided'
            when typed.attempt_id is null
                or typed.learner_id is null
                or typed.item_id is null
                then 'missing_key'
            when {{ clean_text('typed.landed_submitted_at') }} is null
                or {{ clean_text('typed.landed_score') }} is null
                then 'missing_value'
            when typed.submitted_at is null then 'bad_timestamp'
            when typed.score is null
                or (
                    {{ clean_text('typed.landed_attempt_number') }} is not null
                    and coalesce(typed.given_attempt_number < 1, true)
                )
                then 'invalid_value'
            when typed.submitted_at > {{ utc_run_started_at() }} then 'future_timestamp'
            when typed.score < 0 or typed.score > items.max_score then 'score_out_of_range'
            -- A quiz question is right or wrong (docs/landing-contract.md): 0 or its max_score, 1.
            when items.item_type = 'quiz' and typed.score not in (0, 1) then 'partial_score_on_quiz'
            when learners.learner_id is null then 'unknown_learner'
            when items.item_id is null then 'unknown_item'
        end as reject_reason
    from typed
    left join learners on typed.learner_id = learners.learner_id
    left join items on typed.item_id = items.item_id
),

-- Attempts are events, not versions: the copy of an attempt_id loaded first stays. Content is
-- compared on the typed values, so '0.5' and '0.50', or one instant written with two offsets,
-- are the same content (an exact duplicate), not a conflict.
copies as (
    select
        load_id,
        row_number,
        attempt_id,
        learner_id,
        item_id,
        submitted_at,
        score,
        given_attempt_number,
        row_number() over (
            partition by attempt_id
            order by load_id, row_number
        ) as copy_rank
    from checked
    where reject_reason is null
),

copies_compared as (
    select
        load_id,
        row_number,
        copy_rank,
        min(copy_rank) over (
            partition by
                attempt_id,
                learner_id,
                item_id,
                submitted_at,
                score,
                given_attempt_number
        ) as first_copy_rank_with_same_content
    from copies
),

final as (
    select
        checked.landed_attempt_id,
        checked.landed_learner_id,
        checked.landed_item_id,
        checked.landed_submitted_at,
        checked.landed_score,
        checked.landed_attempt_number,
        checked.attempt_id,
        checked.learner_id,
        checked.item_id,
        checked.submitted_at,
        checked.score,
        checked.max_score,
        checked.given_attempt_number,
        checked.source_file,
        checked.load_id,
        checked.row_number,
        case
            when checked.reject_reason is not null then checked.reject_reason
            when copies_compared.first_copy_rank_with_same_content > 1 then 'conflicting_duplicate'
        end as reject_reason,
        case
            when checked.reject_reason is not null then 'rejected'
            when copies_compared.copy_rank = 1 then 'cleaned'
            when copies_compared.first_copy_rank_with_same_content = 1 then 'exact_duplicate'
            else 'rejected'
        end as row_status,
        {{ utc_run_started_at() }} as processed_at{{ learner_bucket_column('checked.learner_id') }}
    from checked
    left join copies_compared
        on checked.load_id = copies_compared.load_id
        and checked.row_number = copies_compared.row_number
)

select * from final
{%- if is_incremental() and attempt_chain_by_bucket() %}
where learner_bucket in (select learner_bucket from rewritten_buckets)
{%- endif %}
