with

learners as (select * from {{ ref('stg_learners_landed') }}),

final as (
    select
        landed_learner_id as learner_id,
        landed_company_id as company_id,
        landed_job_role as job_role,
        landed_display_name as display_name,
        landed_updated_at as updated_at,
        reject_reason,
        source_file,
        load_id,
        row_number
    from learners
    where row_status = 'rejected'
)

select * from final
