with

taxonomy as (select * from {{ ref('skills') }}),

landed_skills as (
    select * from {{ ref('stg_skills_landed') }}
    where row_status = 'cleaned'
),

-- Landed rows win over the seed for the same skill_id.
seed_only_skills as (
    select
        taxonomy.skill_id,
        taxonomy.skill_name,
        taxonomy.domain,
        taxonomy.parent_skill_id,
        'seed' as source,
        'seeds/skills.csv' as source_file,
        cast(null as integer) as load_id
    from taxonomy
    left join landed_skills on taxonomy.skill_id = landed_skills.skill_id
    where landed_skills.skill_id is null
),

merged as (
    select * from seed_only_skills
    union all
    select
        skill_id,
        skill_name,
        domain,
        parent_skill_id,
        'landed' as source,
        source_file,
        load_id
    from landed_skills
),

final as (
    select
        skill_id,
        skill_name,
        domain,
        parent_skill_id,
        source,
        source_file,
        load_id
    from merged
)

select * from final
