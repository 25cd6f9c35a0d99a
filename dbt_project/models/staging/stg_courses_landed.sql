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
    select
        load_id,
        row_number,
        row_number() over (
            partition by course_id
            order by load_id desc, row_number desc
        ) as version_rank,
        row_number() over (
            partition by
                course_id,
                title,
                level
            order by load_id desc, row_number desc
        ) as content_rank
    from checked
    where reject_reason is null
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
        case
            when checked.reject_reason is not null then 'rejected'
            when ranked.version_rank = 1 then 'cleaned'
            when ranked.content_rank > 1 then 'exact_duplicate'
            else 'superseded'
        end as row_status
    from checked
    left join ranked
        on checked.load_id = ranked.load_id
        and checked.row_number = ranked.row_number
)

select * from final
