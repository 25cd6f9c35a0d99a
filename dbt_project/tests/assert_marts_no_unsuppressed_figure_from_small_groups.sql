{{ config(meta={'dagster': {'ref': {'name': 'learner_skill_scores'}}}) }}
-- depends_on: {{ ref('learner_skill_scores') }}
-- A returned row is a figure shown (not suppressed) although it comes from a group below the
-- privacy thresholds: fewer than min_company_learners learners (for company scores and gains
-- the learners whose responses enter the group estimate, i.e. every scored learner; reportable
-- learners for role scores; enrolled or quiz learners for activity), or a peer group of fewer
-- than min_peer_companies companies that each have min_company_learners such learners in the
-- skill. Groups are recounted from learner_skill_scores and the staging tables, not taken from
-- the marts' own count columns.
{%- set min_peer_companies = marts_privacy_threshold('min_peer_companies') -%}
{%- set min_company_learners = marts_privacy_threshold('min_company_learners') %}

with

scores as (select * from {{ ref('learner_skill_scores') }}),

learners as (select * from {{ ref('stg_learners') }}),

role_targets as (select * from {{ ref('role_targets') }}),

enrollments as (select * from {{ ref('stg_enrollments') }}),

attempts as (select * from {{ ref('stg_attempts') }}),

items as (select * from {{ ref('stg_items') }}),

companies as (select * from {{ ref('stg_companies') }}),

company_peer_groups as (
    {{ marts_company_peer_groups('companies') }}
),

company_learners as (
    select
        company_id,
        skill_id,
        count(*) as n_scored,
        count(case when is_reportable then 1 end) as n_reportable
    from scores
    group by
        company_id,
        skill_id
),

-- Companies with enough learners in the skill, per peer group: the only ones that count
-- toward min_peer_companies (scored learners for company benchmarks, reportable learners for
-- learner percentiles).
group_companies as (
    select
        company_learners.skill_id,
        company_peer_groups.peer_group_type,
        company_peer_groups.peer_group_value,
        count(case when company_learners.n_scored >= {{ min_company_learners }} then 1 end)
            as n_benchmarkable_companies,
        count(case when company_learners.n_reportable >= {{ min_company_learners }} then 1 end)
            as n_percentile_companies
    from company_learners
    inner join company_peer_groups
        on company_learners.company_id = company_peer_groups.company_id
    group by
        company_learners.skill_id,
        company_peer_groups.peer_group_type,
        company_peer_groups.peer_group_value
),

role_learners as (
    select
        scores.company_id,
        scores.skill_id,
        learners.job_role,
        count(*) as n_reportable
    from scores
    inner join learners
        on scores.learner_id = learners.learner_id
    where scores.is_reportable
    group by
        scores.company_id,
        scores.skill_id,
        learners.job_role
),

benchmark_violations as (
    select
        'company_skill_benchmarks' as mart,
        benchmarks.company_id || '/' || benchmarks.skill_id || '/' || benchmarks.peer_group_type as row_key
    from {{ ref('company_skill_benchmarks') }} as benchmarks
    left join company_learners
        on benchmarks.company_id = company_learners.company_id
        and benchmarks.skill_id = company_learners.skill_id
    left join group_companies
        on benchmarks.skill_id = group_companies.skill_id
        and benchmarks.peer_group_type = group_companies.peer_group_type
        and benchmarks.peer_group_value = group_companies.peer_group_value
    where not benchmarks.is_suppressed
        and (
            coalesce(company_learners.n_scored, 0) < {{ min_company_learners }}
            or coalesce(group_companies.n_benchmarkable_companies, 0) < {{ min_peer_companies }}
        )
),

percentile_violations as (
    select
        'learner_skill_percentiles',
        percentiles.learner_id || '/' || percentiles.skill_id || '/' || percentiles.peer_group_type
    from {{ ref('learner_skill_percentiles') }} as percentiles
    left join group_companies
        on percentiles.skill_id = group_companies.skill_id
        and percentiles.peer_group_type = group_companies.peer_group_type
        and percentiles.peer_group_value = group_companies.peer_group_value
    where (not percentiles.is_suppressed or percentiles.percentile is not null)
        and coalesce(group_companies.n_percentile_companies, 0) < {{ min_peer_companies }}
),

-- Reportable learners whose role has a target for the skill: the learners behind a company
-- row's gap, learners below target and priority.
targeted_learners as (
    select
        scores.company_id,
        scores.skill_id,
        count(*) as n_reportable
    from scores
    inner join learners
        on scores.learner_id = learners.learner_id
    inner join role_targets
        on learners.job_role = role_targets.job_role
        and scores.skill_id = role_targets.skill_id
    where scores.is_reportable
    group by
        scores.company_id,
        scores.skill_id
),

gap_violations as (
    select
        'skill_gaps',
        gaps.company_id || '/' || gaps.skill_id || '/' || coalesce(gaps.job_role, '*')
    from {{ ref('skill_gaps') }} as gaps
    left join company_learners
        on gaps.company_id = company_learners.company_id
        and gaps.skill_id = company_learners.skill_id
    left join role_learners
        on gaps.company_id = role_learners.company_id
        and gaps.skill_id = role_learners.skill_id
        and gaps.job_role = role_learners.job_role
    where not gaps.is_suppressed
        and case
            when gaps.job_role is null then coalesce(company_learners.n_scored, 0)
            else coalesce(role_learners.n_reportable, 0)
        end < {{ min_company_learners }}
),

target_gap_violations as (
    select
        'skill_gaps',
        gaps.company_id || '/' || gaps.skill_id || '/* target figures'
    from {{ ref('skill_gaps') }} as gaps
    left join targeted_learners
        on gaps.company_id = targeted_learners.company_id
        and gaps.skill_id = targeted_learners.skill_id
    where gaps.job_role is null
        and (gaps.gap is not null or gaps.n_learners_below_target is not null or gaps.priority is not null)
        and coalesce(targeted_learners.n_reportable, 0) < {{ min_company_learners }}
),

gain_violations as (
    select
        'skill_gains',
        gains.company_id || '/' || gains.skill_id || '/' || cast(gains.period_days as {{ text_type() }})
    from {{ ref('skill_gains') }} as gains
    where gains.gain_for = 'company'
        and not gains.is_suppressed
        and gains.n_learners < {{ min_company_learners }}
),

-- A learning_activity row has two groups of learners: those who enrolled in the month and
-- those who made quiz attempts in it. An empty group is no figure about anybody; a group of 1
-- to min_company_learners - 1 learners is too small to show.
enrolled_learners as (
    select
        learners.company_id,
        enrollments.course_id,
        cast({{ dbt.date_trunc('month', 'enrollments.enrolled_at') }} as date) as activity_month,
        count(distinct enrollments.learner_id) as n_learners
    from enrollments
    inner join learners
        on enrollments.learner_id = learners.learner_id
    group by
        learners.company_id,
        enrollments.course_id,
        cast({{ dbt.date_trunc('month', 'enrollments.enrolled_at') }} as date)
),

quiz_learners as (
    select
        learners.company_id,
        items.course_id,
        cast({{ dbt.date_trunc('month', 'attempts.submitted_at') }} as date) as activity_month,
        count(distinct attempts.learner_id) as n_learners
    from attempts
    inner join items
        on attempts.item_id = items.item_id
    inner join learners
        on attempts.learner_id = learners.learner_id
    where items.item_type = 'quiz'
    group by
        learners.company_id,
        items.course_id,
        cast({{ dbt.date_trunc('month', 'attempts.submitted_at') }} as date)
),

activity_violations as (
    select
        'learning_activity',
        activity.company_id || '/' || activity.course_id || '/' || cast(activity.activity_month as {{ text_type() }})
    from {{ ref('learning_activity') }} as activity
    left join enrolled_learners
        on activity.company_id = enrolled_learners.company_id
        and activity.course_id = enrolled_learners.course_id
        and activity.activity_month = enrolled_learners.activity_month
    left join quiz_learners
        on activity.company_id = quiz_learners.company_id
        and activity.course_id = quiz_learners.course_id
        and activity.activity_month = quiz_learners.activity_month
    where not activity.is_suppressed
        and (
            coalesce(enrolled_learners.n_learners, 0) between 1 and {{ min_company_learners }} - 1
            or coalesce(quiz_learners.n_learners, 0) between 1 and {{ min_company_learners }} - 1
        )
)

select * from benchmark_violations
union all
select * from percentile_violations
union all
select * from gap_violations
union all
select * from target_gap_violations
union all
select * from gain_violations
union all
select * from activity_violations
