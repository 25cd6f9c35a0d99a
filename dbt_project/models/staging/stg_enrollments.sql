with

enrollments as (select * from {{ ref('stg_enrollments_landed') }}),

final as (
    select
        learner_id,
        course_id,
        enrolled_at,
        completed_at,
        grade,
        source_file,
        load_id
    from enrollments
    where row_status = 'cleaned'
)

select * from final
