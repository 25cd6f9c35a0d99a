with

skills as (select * from {{ ref('stg_skills_landed') }}),

final as (
    select
        landed_skill_id as skill_id,
        landed_skill_name as skill_name,
        landed_domain as domain,
        landed_parent_skill_id as parent_skill_id,
        reject_reason,
        source_file,
        load_id,
        row_number
    from skills
    where row_status = 'rejected'
)

select * from final
