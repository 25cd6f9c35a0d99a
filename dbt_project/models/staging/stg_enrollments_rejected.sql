with

enrollments as (select * from {{ ref('stg_enrollments_landed') }}),

final as (
    select
        landed_learner_id as learner_id,
        landed_course_id as course_id,
        landed_enrolled_at as enrolled_at,
        landed_completed_at as completed_at,
        landed_grade as grade,
        reject_reason,
        source_file,
        load_id,
        row_number
    from enrollments
    where row_status = 'rejected'
)

select * from final
