with

attempts as (select * from {{ ref('stg_attempts_landed') }}),

final as (
    select
        landed_attempt_id as attempt_id,
        landed_learner_id as learner_id,
        landed_item_id as item_id,
        landed_submitted_at as submitted_at,
        landed_score as score,
        landed_attempt_number as attempt_number,
        reject_reason,
        source_file,
        load_id,
        row_number
    from attempts
    where row_status = 'rejected'
)

select * from final
