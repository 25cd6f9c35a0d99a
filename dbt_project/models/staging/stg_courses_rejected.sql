with

courses as (select * from {{ ref('stg_courses_landed') }}),

final as (
    select
        landed_course_id as course_id,
        landed_title as title,
        landed_level as level,
        reject_reason,
        source_file,
        load_id,
        row_number
    from courses
    where row_status = 'rejected'
)

select * from final
