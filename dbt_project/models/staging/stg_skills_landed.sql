with recursive

landed as (select * from {{ source('raw', 'skills') }}),

taxonomy as (select * from {{ ref('skills') }}),

typed as (
    select
        skill_id as landed_skill_id,
        skill_name as landed_skill_name,
        domain as landed_domain,
        parent_skill_id as landed_parent_skill_id,
        {{ clean_text('skill_id') }} as skill_id,
        {{ clean_text('skill_name') }} as skill_name,
        {{ clean_text('domain') }} as domain,
        {{ clean_text('parent_skill_id') }} as parent_skill_id,
        _source_file as source_file,
        _load_id as load_id,
        _row_number as row_number
    from landed
),

-- The skills stg_skills will hold (it is built from this model): every seed skill (a rejected
-- landed version leaves the seed row), and a landed skill with a valid version whose parent is
-- none or itself known. So the chain of parents must reach the seed or a top-level skill: the
-- child and grandchild of a rejected or unknown skill are unknown, and so is a cycle of landed
-- skills. UNION keeps each skill once, which ends the recursion.
{{ known_skills_cte('taxonomy', 'typed') }}

checked as (
    select
        typed.*,
        case
            when typed.skill_id is null then 'missing_key'
            when typed.skill_name is null then 'missing_value'
            when typed.parent_skill_id is not null
                and known_skills.skill_id is null
                then 'unknown_skill'
        end as reject_reason
    from typed
    left join known_skills on typed.parent_skill_id = known_skills.skill_id
),

ranked as (
    {{ upsert_ranks('checked', ['skill_id'], ['skill_name', 'domain', 'parent_skill_id']) }}
),

final as (
    select
        checked.landed_skill_id,
        checked.landed_skill_name,
        checked.landed_domain,
        checked.landed_parent_skill_id,
        checked.skill_id,
        checked.skill_name,
        checked.domain,
        checked.parent_skill_id,
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
