with

companies as (select * from {{ ref('stg_companies_landed') }}),

final as (
    select
        landed_company_id as company_id,
        landed_industry as industry,
        landed_country as country,
        landed_employee_count as employee_count,
        landed_company_name as company_name,
        landed_updated_at as updated_at,
        reject_reason,
        source_file,
        load_id,
        row_number
    from companies
    where row_status = 'rejected'
)

select * from final
