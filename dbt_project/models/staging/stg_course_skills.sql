with

course_skills as (select * from {{ ref('stg_course_skills_landed') }}),

final as (
    select
        course_id,
        skill_id,
        weight,
        source_file,
        load_id
    from course_skills
    where row_status = 'cleaned'
)

select * from final
