with

course_skills as (select * from {{ ref('stg_course_skills_landed') }}),

final as (
    select
        landed_course_id as course_id,
        landed_skill_id as skill_id,
        landed_weight as weight,
        reject_reason,
        source_file,
        load_id,
        row_number
    from course_skills
    where row_status = 'rejected'
)

select * from final
