with

landed as (select * from {{ source('raw', 'course_skills') }}),

courses as (select * from {{ ref('stg_courses') }}),

skills as (select * from {{ ref('stg_skills') }}),

typed as (
    select
        course_id as landed_course_id,
        skill_id as landed_skill_id,
        weight as landed_weight,
        {{ clean_text('course_id') }} as course_id,
        {{ clean_text('skill_id') }} as skill_id,
        -- A course skill without a weight counts fully.
        case
            when {{ clean_text('weight') }} is null then 1.0
            else {{ parse_number('weight') }}
        end as weight,
        _source_file as source_file,
        _load_id as load_id,
        _row_number as row_number
    from landed
),

checked as (
    select
        typed.*,
        case
            when typed.course_id is null or typed.skill_id is null then 'missing_key'
            when typed.weight is null or typed.weight <= 0 or typed.weight > 1 then 'invalid_value'
            when courses.course_id is null then 'unknown_course'
            when skills.skill_id is null then 'unknown_skill'
        end as reject_reason
    from typed
    left join courses on typed.course_id = courses.course_id
    left join skills on typed.skill_id = skills.skill_id
),

ranked as (
    {{ upsert_ranks('checked', ['course_id', 'skill_id'], ['weight']) }}
),

final as (
    select
        checked.landed_course_id,
        checked.landed_skill_id,
        checked.landed_weight,
        checked.course_id,
        checked.skill_id,
        checked.weight,
        checked.source_file,
        checked.load_id,
        checked.row_number,
        checked.reject_reason,
        {{ upsert_row_status('checked', 'ranked') }} as row_status
    from checked
    left join ranked
        on checked.load_id = ranked.load_id
        and checked.row_number = ranked.row_number
)

select * from final
