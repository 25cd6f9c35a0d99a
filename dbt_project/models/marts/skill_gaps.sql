{%- set min_company_learners = marts_privacy_threshold('min_company_learners') -%}

with

scores as (select * from {{ ref('learner_skill_scores') }}),

learners as (select * from {{ ref('stg_learners') }}),

role_targets as (select * from {{ ref('role_targets') }}),

benchmarks as (select * from {{ ref('company_skill_benchmarks') }}),

skills as (select * from {{ ref('stg_skills') }}),

-- The company-wide score: the company's group estimate from all its learners' responses
-- (irt_models.score_groups, as in company_skill_benchmarks).
group_abilities as (select * from {{ source('irt', 'group_abilities') }}),

learner_targets as (
    select
        scores.learner_id,
        scores.company_id,
        scores.skill_id,
        learners.job_role,
        scores.theta,
        scores.theta_se,
        scores.skill_score,
        scores.is_reportable,
        cast(role_targets.target_score as double) as target_score
    from scores
    inner join learners
        on scores.learner_id = learners.learner_id
    left join role_targets
        on learners.job_role = role_targets.job_role
        and scores.skill_id = role_targets.skill_id
),

-- Each learner counts in the company scope ('*') and, when the role has a target for the
-- skill, in the scope of its job role.
scoped as (
    select
        '*' as role_key,
        learner_targets.*
    from learner_targets
    union all
    select
        job_role as role_key,
        learner_targets.*
    from learner_targets
    where target_score is not null
),

scopes as (
    select distinct
        company_id,
        skill_id,
        role_key
    from scoped
),

reportable_scoped as (
    select
        company_id,
        skill_id,
        role_key,
        theta,
        theta_se,
        target_score
    from scoped
    where is_reportable
),

-- A job role's score: the trimmed weighted mean of its reportable learners.
reportable_role_scoped as (
    select *
    from reportable_scoped
    where role_key <> '*'
),

role_scores as (
    {{ marts_trimmed_weighted_mean('reportable_role_scoped', ['company_id', 'skill_id', 'role_key']) }}
),

scope_scores as (
    select
        company_id,
        skill_id,
        role_key,
        n_learners,
        theta,
        theta_se
    from role_scores
    union all
    select
        group_value as company_id,
        skill_id,
        '*' as role_key,
        n_learners,
        theta,
        theta_se
    from group_abilities
    where group_type = 'company'
),

-- The gap compares the targets with the current score of the same learners: those of the
-- scope that have a role target. On a role row they are the whole scope; on the company row
-- (all learners, the score compared with peers) only some may have one.
reportable_targeted as (
    select *
    from reportable_scoped
    where target_score is not null
),

targeted_scores as (
    {{ marts_trimmed_weighted_mean('reportable_targeted', ['company_id', 'skill_id', 'role_key']) }}
),

scope_targets as (
    select
        company_id,
        skill_id,
        role_key,
        avg(target_score) as target_score,
        count(case when skill_score < target_score then 1 end) as n_learners_below_target,
        sum(greatest(target_score - skill_score, 0)) as shortfall_points
    from scoped
    where is_reportable
        and target_score is not null
    group by
        company_id,
        skill_id,
        role_key
),

-- Role targets stay visible even when no reportable learner has one.
configured_targets as (
    select
        scoped.company_id,
        scoped.skill_id,
        scoped.role_key,
        avg(scoped.target_score) as target_score
    from scoped
    group by
        scoped.company_id,
        scoped.skill_id,
        scoped.role_key
),

-- The industry median of company scores, taken from rows that were not suppressed: it exists
-- only when the industry has enough benchmarkable companies.
company_industries as (
    select
        company_id,
        skill_id,
        peer_group_value as industry
    from benchmarks
    where peer_group_type = 'industry'
),

industry_medians as (
    select
        skill_id,
        peer_group_value as industry,
        max(peer_median_score) as peer_median_score
    from benchmarks
    where peer_group_type = 'industry'
        and not is_suppressed
    group by
        skill_id,
        peer_group_value
),

assembled as (
    select
        scopes.company_id,
        scopes.skill_id,
        case when scopes.role_key <> '*' then scopes.role_key end as job_role,
        coalesce(scope_scores.n_learners, 0) as n_learners,
        coalesce(scope_scores.n_learners, 0) < {{ min_company_learners }} as is_suppressed,
        scope_scores.theta,
        scope_scores.theta_se,
        coalesce(targeted_scores.n_learners, 0) as n_targeted_learners,
        targeted_scores.theta as targeted_theta,
        coalesce(scope_targets.target_score, configured_targets.target_score) as target_score,
        scope_targets.n_learners_below_target,
        scope_targets.shortfall_points,
        industry_medians.peer_median_score
    from scopes
    left join scope_scores
        on scopes.company_id = scope_scores.company_id
        and scopes.skill_id = scope_scores.skill_id
        and scopes.role_key = scope_scores.role_key
    left join targeted_scores
        on scopes.company_id = targeted_scores.company_id
        and scopes.skill_id = targeted_scores.skill_id
        and scopes.role_key = targeted_scores.role_key
    left join scope_targets
        on scopes.company_id = scope_targets.company_id
        and scopes.skill_id = scope_targets.skill_id
        and scopes.role_key = scope_targets.role_key
    left join configured_targets
        on scopes.company_id = configured_targets.company_id
        and scopes.skill_id = configured_targets.skill_id
        and scopes.role_key = configured_targets.role_key
    left join company_industries
        on scopes.company_id = company_industries.company_id
        and scopes.skill_id = company_industries.skill_id
    left join industry_medians
        on company_industries.skill_id = industry_medians.skill_id
        and company_industries.industry = industry_medians.industry
),

-- The target figures (gap, learners below target, priority) describe the learners with a
-- target, so they also need min_company_learners of them (on a role row, the whole scope).
shown as (
    select
        company_id,
        skill_id,
        job_role,
        n_learners,
        is_suppressed,
        target_score,
        case when not is_suppressed then {{ marts_theta_to_score('theta', 1) }} end as current_score,
        case when not is_suppressed then {{ marts_se_to_score('theta_se') }} end as current_score_se,
        case
            when not is_suppressed and n_targeted_learners >= {{ min_company_learners }}
                then {{ marts_theta_to_score('targeted_theta', 1) }}
        end as targeted_score,
        case
            when not is_suppressed and n_targeted_learners >= {{ min_company_learners }}
                then n_learners_below_target
        end as n_learners_below_target,
        case
            when not is_suppressed and n_targeted_learners >= {{ min_company_learners }}
                then shortfall_points
        end as shortfall_points,
        case when not is_suppressed then peer_median_score end as peer_median_score
    from assembled
),

final as (
    select
        shown.company_id,
        shown.skill_id,
        skills.skill_name,
        cast(shown.job_role as {{ text_type() }}) as job_role,
        shown.is_suppressed,
        cast(shown.n_learners as integer) as n_learners,
        cast(shown.current_score as double) as current_score,
        cast(shown.current_score_se as double) as current_score_se,
        {{ marts_proficiency_level('shown.current_score') }} as current_level,
        cast(round(shown.target_score, 1) as double) as target_score,
        {{ marts_proficiency_level('shown.target_score') }} as target_level,
        cast(round(shown.target_score - shown.targeted_score, 1) as double) as gap,
        cast(shown.peer_median_score as double) as peer_median_score,
        cast(round(shown.peer_median_score - shown.current_score, 1) as double) as gap_to_peers,
        cast(shown.n_learners_below_target as integer) as n_learners_below_target,
        cast(round(shown.shortfall_points, 1) as double) as priority
    from shown
    left join skills
        on shown.skill_id = skills.skill_id
)

select * from final
