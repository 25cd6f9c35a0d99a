with

landed as (select * from {{ source('raw', 'learners') }}),

companies as (select * from {{ ref('stg_companies') }}),

typed as (
    select
        learner_id as landed_learner_id,
        company_id as landed_company_id,
        job_role as landed_job_role,
        display_name as landed_display_name,
        updated_at as landed_updated_at,
        {{ clean_text('learner_id') }} as learner_id,
        {{ clean_text('company_id') }} as company_id,
        {{ clean_text('job_role') }} as job_role,
        {{ clean_text('display_name') }} as display_name,
        {{ parse_utc_timestamp('updated_at') }} as updated_at,
        _source_file as source_file,
        _load_id as load_id,
        _row_number as row_number
    from landed
),

checked as (
    select
        typed.*,
        case
            when typed.learner_id is null or typed.company_id is null then 'missing_key'
            when {{ clean_text('typed.landed_updated_at') }} is not null
                and typed.updated_at is null
                then 'bad_timestamp'
            when typed.updated_at > {{ utc_run_started_at() }} then 'future_timestamp'
            when companies.company_id is null then 'unknown_company'
        end as reject_reason
    from typed
    left join companies on typed.company_id = companies.company_id
),

ranked as (
    {{ upsert_ranks(
        'checked',
        ['learner_id'],
        ['company_id', 'job_role', 'display_name', 'updated_at'],
    ) }}
),

final as (
    select
        checked.landed_learner_id,
        checked.landed_company_id,
        checked.landed_job_role,
        checked.landed_display_name,
        checked.landed_updated_at,
        checked.learner_id,
        checked.company_id,
        checked.job_role,
        checked.display_name,
        checked.updated_at,
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
