with

learners as (select * from {{ ref('stg_learners_landed') }}),

final as (
    select
        learner_id,
        company_id,
        job_role,
        display_name,
        updated_at,
        source_file,
        load_id
    from learners
    where row_status = 'cleaned'
)

select * from final
