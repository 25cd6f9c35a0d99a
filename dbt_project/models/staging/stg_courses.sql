with

courses as (select * from {{ ref('stg_courses_landed') }}),

final as (
    select
        course_id,
        title,
        level,
        source_file,
        load_id
    from courses
    where row_status = 'cleaned'
)

select * from final
