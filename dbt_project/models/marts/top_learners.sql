{%- set top_n = var('top_learners_n') -%}

with

scores as (select * from {{ ref('learner_skill_scores') }}),

learners as (select * from {{ ref('stg_learners') }}),

-- One rank per learner: equal thetas are ordered by the smaller standard error (the surer
-- estimate), then by learner_id, so that the list is stable from run to run.
ranked as (
    select
        scores.company_id,
        scores.skill_id,
        scores.skill_name,
        scores.learner_id,
        scores.theta,
        scores.theta_se,
        scores.skill_score,
        scores.skill_score_se,
        scores.proficiency_level,
        scores.n_items,
        row_number() over (
            partition by
                scores.company_id,
                scores.skill_id
            order by
                scores.theta desc,
                scores.theta_se,
                scores.learner_id
        ) as learner_rank
    from scores
    where scores.is_reportable
),

final as (
    select
        ranked.company_id,
        ranked.skill_id,
        ranked.skill_name,
        cast(ranked.learner_rank as integer) as rank,
        ranked.learner_id,
        learners.display_name,
        ranked.skill_score,
        ranked.skill_score_se,
        ranked.proficiency_level,
        ranked.theta,
        ranked.theta_se,
        ranked.n_items
    from ranked
    inner join learners
        on ranked.learner_id = learners.learner_id
    where ranked.learner_rank <= {{ top_n }}
)

select * from final
