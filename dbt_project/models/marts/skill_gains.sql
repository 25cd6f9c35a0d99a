{%- set min_company_learners = marts_privacy_threshold('min_company_learners') -%}

with

-- Each learner's estimate as of each gain period's start, written by the IRT scoring run
-- (irt_scoring) from the responses submitted by then, on today's item parameters: the start
-- and the end of a gain are on one scale. The run also fixes period_start and period_end.
start_estimates as (select * from {{ source('irt', 'learner_abilities_period_start') }}),

scores as (select * from {{ ref('learner_skill_scores') }}),

learner_gains as (
    select
        scores.company_id,
        scores.learner_id,
        scores.skill_id,
        start_estimates.period_days,
        start_estimates.period_start,
        start_estimates.period_end,
        start_estimates.theta as theta_start,
        scores.theta as theta_end,
        start_estimates.n_items as n_items_start,
        scores.n_items as n_items_end,
        scores.theta - start_estimates.theta as gain_theta,
        -- The two estimates share the responses before the start, so their errors correlate
        -- positively; adding the variances overstates the SE of the difference (conservative).
        sqrt(
            start_estimates.theta_se * start_estimates.theta_se
            + scores.theta_se * scores.theta_se
        ) as gain_se_theta
    from scores
    inner join start_estimates
        on scores.learner_id = start_estimates.learner_id
        and scores.skill_id = start_estimates.skill_id
),

-- A company's gain is the difference of two group estimates (irt_models.score_groups) of the
-- learners who answered an item in the period: from the responses submitted by the period
-- start, and from all their responses (irt.company_gains, written by the scoring run).
company_gains as (
    select
        company_id,
        skill_id,
        period_days,
        period_start,
        period_end,
        n_learners,
        theta_start,
        theta_end,
        gain_theta,
        gain_se_theta
    from {{ source('irt', 'company_gains') }}
),

unioned as (
    select
        'learner' as gain_for,
        company_id,
        learner_id,
        skill_id,
        period_days,
        period_start,
        period_end,
        cast(null as integer) as n_learners,
        n_items_start,
        n_items_end,
        false as is_suppressed,
        {{ marts_theta_to_score('theta_start') }} as score_start,
        {{ marts_theta_to_score('theta_end') }} as score_end,
        gain_theta,
        gain_se_theta
    from learner_gains
    union all
    select
        'company',
        company_id,
        null,
        skill_id,
        period_days,
        period_start,
        period_end,
        n_learners,
        null,
        null,
        n_learners < {{ min_company_learners }},
        case when n_learners >= {{ min_company_learners }} then {{ marts_theta_to_score('theta_start', 1) }} end,
        case when n_learners >= {{ min_company_learners }} then {{ marts_theta_to_score('theta_end', 1) }} end,
        case when n_learners >= {{ min_company_learners }} then gain_theta end,
        case when n_learners >= {{ min_company_learners }} then gain_se_theta end
    from company_gains
),

final as (
    select
        gain_for,
        company_id,
        cast(learner_id as {{ text_type() }}) as learner_id,
        skill_id,
        cast(period_days as integer) as period_days,
        cast(period_start as timestamp) as period_start,
        cast(period_end as timestamp) as period_end,
        cast(n_learners as integer) as n_learners,
        cast(n_items_start as integer) as n_items_start,
        cast(n_items_end as integer) as n_items_end,
        is_suppressed,
        cast(score_start as double) as score_start,
        cast(score_end as double) as score_end,
        cast(round(50 * gain_theta, 1) as double) as gain,
        cast(round(50 * gain_se_theta, 1) as double) as gain_se,
        cast(gain_theta as double) as gain_theta,
        cast(gain_se_theta as double) as gain_se_theta,
        case
            when gain_theta is not null then abs(gain_theta) > 1.96 * gain_se_theta
        end as is_significant
    from unioned
)

select * from final
