with

landed as (select * from {{ source('raw', 'courses') }}),

typed as (
    select
        course_id as landed_course_id,
        title as landed_title,
        level as landed_level,
        {{ clean_text('course_id') }} as course_id,
        {{ clean_text('title') }} as title,
        lower({{ clean_text('level') }}) as level,
        _source_file as source_file,
        _load_id as load_id,
        _row_number as row_number
    from landed
),

checked as (
    select
        typed.*,
        case
            when typed.course_id is null then 'missing_key'
            when typed.level not in ('beginner', 'intermediate', 'advanced') then 'invalid_value'
        end as reject_reason
    from typed
),

ranked as (
    {{ upsert_ranks('checked', ['course_id'], ['title', 'level']) }}
),

final as (
    select
        checked.landed_course_id,
        checked.landed_title,
        checked.landed_level,
        checked.course_id,
        checked.title,
        checked.level,
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
