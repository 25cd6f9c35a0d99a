with

landed as (select * from {{ source('raw', 'companies') }}),

countries as (select * from {{ ref('iso_countries') }}),

typed as (
    select
        company_id as landed_company_id,
        industry as landed_industry,
        country as landed_country,
        employee_count as landed_employee_count,
        company_name as landed_company_name,
        updated_at as landed_updated_at,
        {{ clean_text('company_id') }} as company_id,
        {{ clean_text('company_name') }} as company_name,
        {{ clean_text('industry') }} as industry,
        upper({{ clean_text('country') }}) as country,
        {{ parse_integer('employee_count') }} as employee_count,
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
            when typed.company_id is null then 'missing_key'
            when {{ clean_text('typed.landed_industry') }} is null
                or typed.country is null
                or {{ clean_text('typed.landed_employee_count') }} is null
                then 'missing_value'
            when {{ clean_text('typed.landed_updated_at') }} is not null
                and typed.updated_at is null
                then 'bad_timestamp'
            when typed.employee_count is null or typed.employee_count < 1 then 'invalid_value'
            when countries.code is null then 'invalid_country'
            when typed.updated_at > {{ utc_run_started_at() }} then 'future_timestamp'
        end as reject_reason
    from typed
    left join countries on typed.country = countries.code
),

ranked as (
    {{ upsert_ranks(
        'checked',
        ['company_id'],
        ['company_name', 'industry', 'country', 'employee_count', 'updated_at'],
    ) }}
),

final as (
    select
        checked.landed_company_id,
        checked.landed_industry,
        checked.landed_country,
        checked.landed_employee_count,
        checked.landed_company_name,
        checked.landed_updated_at,
        checked.company_id,
        checked.company_name,
        checked.industry,
        checked.country,
        checked.employee_count,
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
