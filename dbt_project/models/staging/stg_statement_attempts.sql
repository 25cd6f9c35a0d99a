{#- The attempts statements make, in the shape of raw.attempts (text values), for the attempt
    chain (stg_attempt_rows): the first copy of each attempt statement that no rule rejected
    or ignored, voided ones included (rejected as voided there, so that an attempt voided after
    it was cleaned is taken back). The score is the statement's share of its maximum on the
    item's max_score; the raw score itself when the statement's range is the item's. -#}
{{ config(materialized='view') }}

with

statements as (select * from {{ ref('stg_statements_landed') }}),

items as (select item_id, max_score from {{ ref('stg_items') }}),

final as (
    select
        statements.statement_id as attempt_id,
        statements.learner_id,
        statements.activity_id as item_id,
        {{ utc_iso_text('statements.event_at') }} as submitted_at,
        {{ number_text(
            "case when statements.score_raw is not null and coalesce(statements.score_min, 0) = 0"
            ~ " and statements.score_max = items.max_score then statements.score_raw"
            ~ " else statements.score_fraction * coalesce(items.max_score, 1) end"
        ) }} as score,
        {{ number_text('statements.attempt_number') }} as attempt_number,
        statements.load_id as _load_id,
        statements.source_file as _source_file,
        statements.row_number as _row_number,
        statements.outcome = 'voided' as is_voided,
        greatest(
            statements.load_id,
            coalesce(statements.voided_in_load, 0),
            coalesce(statements.identity_load_id, 0)
        ) as _touched_load_id
    from statements
    left join items on statements.activity_id = items.item_id
    where statements.kind = 'attempt'
        and (
            statements.outcome = 'attempt'
            or (statements.outcome = 'voided' and statements.ignore_reason is null
                and statements.score_fraction is not null)
        )
)

select * from final
