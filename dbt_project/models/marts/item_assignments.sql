{#- Which skill each item assesses and how that was decided, for the analytics engineer's
    item-bank dashboard: every item in irt.item_skill_assignments, with its course and skill
    names. Item-level only: no learner, no company.
    needs_review: unassigned (too few responses to decide) or assigned by data with a
    confidence below 0.9 (another candidate skill kept more than a tenth of the evidence). -#}

with

item_skill_assignments as (select * from {{ source('irt', 'item_skill_assignments') }}),

courses as (select * from {{ ref('stg_courses') }}),

skills as (select * from {{ ref('stg_skills') }}),

final as (
    select
        cast(assignments.item_id as {{ text_type() }}) as item_id,
        cast(assignments.course_id as {{ text_type() }}) as course_id,
        cast(courses.title as {{ text_type() }}) as course_title,
        cast(assignments.skill_id as {{ text_type() }}) as skill_id,
        cast(skills.skill_name as {{ text_type() }}) as skill_name,
        cast(assignments.method as {{ text_type() }}) as method,
        cast(assignments.confidence as double) as confidence,
        cast(assignments.n_candidates as integer) as n_candidates,
        cast(assignments.candidate_skills as {{ text_type() }}) as candidate_skills,
        cast(assignments.n_responses as bigint) as n_responses,
        cast(assignments.evidence as {{ text_type() }}) as evidence,
        (
            assignments.method = 'unassigned'
            or (assignments.method = 'data' and coalesce(assignments.confidence, 0) < 0.9)
        ) as needs_review,
        cast(assignments.run_id as {{ text_type() }}) as run_id
    from item_skill_assignments as assignments
    left join courses
        on assignments.course_id = courses.course_id
    left join skills
        on assignments.skill_id = skills.skill_id
)

select * from final
