with

landed as (select * from {{ ref('stg_item_rows') }}),

courses as (select * from {{ ref('stg_courses') }}),

skills as (select * from {{ ref('stg_skills') }}),

typed as (
    select
        item_id as landed_item_id,
        course_id as landed_course_id,
        max_score as landed_max_score,
        item_type as landed_item_type,
        skill_id as landed_skill_id,
        {{ clean_text('item_id') }} as item_id,
        {{ clean_text('course_id') }} as course_id,
        {{ parse_number('max_score') }} as max_score,
        lower({{ clean_text('item_type') }}) as given_item_type,
        {{ clean_text('skill_id') }} as skill_id,
        _source_file as source_file,
        _load_id as load_id,
        _row_number as row_number
    from landed
),

checked as (
    select
        typed.*,
        -- Without a type, a one-point item is a quiz question and anything else an assignment.
        coalesce(
            typed.given_item_type,
            case when typed.max_score = 1 then 'quiz' else 'assignment' end
        ) as item_type,
        case
            when typed.item_id is null or typed.course_id is null then 'missing_key'
            when {{ clean_text('typed.landed_max_score') }} is null then 'missing_value'
            -- A quiz question has max_score 1 (docs/landing-contract.md); an item without a type
            -- is a quiz only when its max_score is 1.
            when typed.max_score is null
                or typed.max_score <= 0
                or typed.given_item_type not in ('quiz', 'assignment')
                or (typed.given_item_type = 'quiz' and typed.max_score != 1)
                then 'invalid_value'
            when courses.course_id is null then 'unknown_course'
            when typed.skill_id is not null and skills.skill_id is null then 'unknown_skill'
        end as reject_reason
    from typed
    left join courses on typed.course_id = courses.course_id
    left join skills on typed.skill_id = skills.skill_id
),

ranked as (
    {{ upsert_ranks('checked', ['item_id'], ['course_id', 'max_score', 'item_type', 'skill_id']) }}
),

final as (
    select
        checked.landed_item_id,
        checked.landed_course_id,
        checked.landed_max_score,
        checked.landed_item_type,
        checked.landed_skill_id,
        checked.item_id,
        checked.course_id,
        checked.max_score,
        checked.item_type,
        checked.skill_id,
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
