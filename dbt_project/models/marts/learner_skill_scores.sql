with

abilities as (select * from {{ source('irt', 'learner_abilities') }}),

learners as (select * from {{ ref('stg_learners') }}),

skills as (select * from {{ ref('stg_skills') }}),

scored as (
    select
        abilities.learner_id,
        -- The learner's company comes from stg_learners, the same source every learner-level
        -- mart and the cross-company test use.
        learners.company_id,
        abilities.skill_id,
        cast(abilities.theta as double) as theta,
        cast(abilities.theta_se as double) as theta_se,
        cast(abilities.n_items as integer) as n_items,
        cast(abilities.last_response_at as timestamp) as last_response_at,
        cast(abilities.scored_at as timestamp) as scored_at
    from abilities
    inner join learners
        on abilities.learner_id = learners.learner_id
),

final as (
    select
        scored.learner_id,
        scored.company_id,
        scored.skill_id,
        skills.skill_name,
        skills.domain,
        scored.theta,
        scored.theta_se,
        {{ marts_theta_to_score('scored.theta') }} as skill_score,
        {{ marts_se_to_score('scored.theta_se') }} as skill_score_se,
        {{ marts_proficiency_level(marts_theta_to_score('scored.theta')) }} as proficiency_level,
        {{ marts_proficiency_rank(marts_theta_to_score('scored.theta')) }} as proficiency_rank,
        scored.n_items,
        (
            scored.n_items >= {{ var('min_items_reportable') }}
            and scored.theta_se <= {{ var('max_se_reportable') }}
        ) as is_reportable,
        scored.last_response_at,
        scored.scored_at
    from scored
    left join skills
        on scored.skill_id = skills.skill_id
)

select * from final
