with

attempts as (
    select * from {{ ref('stg_attempts_landed') }}
    where row_status = 'cleaned'
),

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
        load_id
    from numbered
)

select * from final
