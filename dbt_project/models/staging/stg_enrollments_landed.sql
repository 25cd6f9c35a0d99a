{#-
    Incremental like stg_attempts_landed, by enrollment key (learner_id, course_id): a refresh
    re-decides every landed version of a key that has rows in new loads, or a row rejected for a
    reason that can change without new rows (future_timestamp, unknown_learner,
    unknown_course). All versions of such a key are re-read, so the last valid one wins exactly
    as in a full rebuild; rows are replaced by (load_id, row_number).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=attempt_chain_strategy(),
    partition_by=attempt_chain_partition(),
    unique_key=['load_id', 'row_number'],
    on_schema_change='fail',
) }}

with

{% if is_incremental() %}
processed as (
    select coalesce(max(load_id), -1) as max_load_id from {{ this }}
),

touched_keys as (
    select learner_id, course_id
    from {{ this }}
    where reject_reason in ('voided', 'future_timestamp', 'unknown_learner', 'unknown_course')
    union
    select {{ clean_text('learner_id') }}, {{ clean_text('course_id') }}
    from {{ ref('stg_enrollment_rows') }}
    where _touched_load_id > (select max_load_id from processed)
),

{% if attempt_chain_by_bucket() -%}
{#- Spark rewrites whole learner buckets, those of the touched keys, each from all its landed
    rows (the versions of a key share its learner_id, hence its bucket). -#}
rewritten_buckets as (
    select distinct {{ learner_bucket_of('learner_id') }} as learner_bucket
    from touched_keys
),

landed as (
    select *
    from {{ ref('stg_enrollment_rows') }}
    where {{ learner_bucket_of(clean_text('learner_id')) }} in (
        select learner_bucket from rewritten_buckets
    )
),
{% else -%}
landed as (
    select *
    from {{ ref('stg_enrollment_rows') }}
    where _load_id > (select max_load_id from processed)
    union all
    select raw_enrollments.*
    from {{ ref('stg_enrollment_rows') }} as raw_enrollments
    semi join touched_keys
        on touched_keys.learner_id = {{ clean_text('raw_enrollments.learner_id') }}
        and touched_keys.course_id = {{ clean_text('raw_enrollments.course_id') }}
    where raw_enrollments._load_id <= (select max_load_id from processed)
),
{% endif -%}
{% else %}
landed as (select * from {{ ref('stg_enrollment_rows') }}),
{% endif %}

learners as (select * from {{ ref('stg_learners') }}),

courses as (select * from {{ ref('stg_courses') }}),

typed as (
    select
        learner_id as landed_learner_id,
        course_id as landed_course_id,
        enrolled_at as landed_enrolled_at,
        completed_at as landed_completed_at,
        grade as landed_grade,
        {{ clean_text('learner_id') }} as learner_id,
        {{ clean_text('course_id') }} as course_id,
        {{ parse_utc_timestamp('enrolled_at') }} as enrolled_at,
        {{ parse_utc_timestamp('completed_at') }} as completed_at,
        {{ parse_number('grade') }} as grade,
        is_voided,
        _source_file as source_file,
        _load_id as load_id,
        _row_number as row_number
    from landed
),

checked as (
    select
        typed.*,
        case
            -- A voiding statement took the enrollment statement back.
            when typed.is_voided then 'voided'
            when typed.learner_id is null or typed.course_id is null then 'missing_key'
            when {{ clean_text('typed.landed_enrolled_at') }} is null then 'missing_value'
            when typed.enrolled_at is null
                or (
                    {{ clean_text('typed.landed_completed_at') }} is not null
                    and typed.completed_at is null
                )
                then 'bad_timestamp'
            -- Also invalid: completed before enrolled (both instants in UTC). Like every
            -- invalid_value, a fault of the row alone, which no later run re-decides.
            when (
                {{ clean_text('typed.landed_grade') }} is not null
                and coalesce(typed.grade < 0 or typed.grade > 1, true)
            )
                or typed.completed_at < typed.enrolled_at
                then 'invalid_value'
            when typed.enrolled_at > {{ utc_run_started_at() }}
                or typed.completed_at > {{ utc_run_started_at() }}
                then 'future_timestamp'
            when learners.learner_id is null then 'unknown_learner'
            when courses.course_id is null then 'unknown_course'
        end as reject_reason
    from typed
    left join learners on typed.learner_id = learners.learner_id
    left join courses on typed.course_id = courses.course_id
),

ranked as (
    {{ upsert_ranks(
        'checked',
        ['learner_id', 'course_id'],
        ['enrolled_at', 'completed_at', 'grade'],
    ) }}
),

final as (
    select
        checked.landed_learner_id,
        checked.landed_course_id,
        checked.landed_enrolled_at,
        checked.landed_completed_at,
        checked.landed_grade,
        checked.learner_id,
        checked.course_id,
        checked.enrolled_at,
        checked.completed_at,
        checked.grade,
        checked.source_file,
        checked.load_id,
        checked.row_number,
        checked.reject_reason,
        {{ upsert_row_status('checked', 'ranked') }} as row_status
        {{- learner_bucket_column('checked.learner_id') }}
    from checked
    left join ranked
        on checked.load_id = ranked.load_id
        and checked.row_number = ranked.row_number
)

select * from final
