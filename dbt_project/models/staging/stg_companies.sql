with

companies as (select * from {{ ref('stg_companies_landed') }}),

size_bands as (select * from {{ ref('company_size_bands') }}),

latest_versions as (
    select * from companies
    where row_status = 'cleaned'
),

final as (
    select
        latest_versions.company_id,
        latest_versions.company_name,
        latest_versions.industry,
        latest_versions.country,
        latest_versions.employee_count,
        size_bands.size_band,
        latest_versions.updated_at,
        latest_versions.source_file,
        latest_versions.load_id
    from latest_versions
    left join size_bands
        on latest_versions.employee_count >= size_bands.min_employees
        and (
            latest_versions.employee_count <= size_bands.max_employees
            or size_bands.max_employees is null
        )
)

select * from final
