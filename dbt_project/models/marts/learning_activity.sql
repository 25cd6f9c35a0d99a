{%- set min_company_learners = marts_privacy_threshold('min_company_learners') -%}

with

enrollments as (select * from {{ ref('stg_enrollments') }}),

attempts as (select * from {{ ref('stg_attempts') }}),

items as (select * from {{ ref('stg_items') }}),

learners as (select * from {{ ref('stg_learners') }}),

courses as (select * from {{ ref('stg_courses') }}),

-- Enrollment cohorts: enrollments of the month, and how many of them are completed by now.
enrollment_months as (
    select
        learners.company_id,
        enrollments.course_id,
        cast({{ dbt.date_trunc('month', 'enrollments.enrolled_at') }} as date) as activity_month,
        count(*) as n_enrollments,
        count(distinct enrollments.learner_id) as n_enrolled_learners,
        count(enrollments.completed_at) as n_completions
    from enrollments
    inner join learners
        on enrollments.learner_id = learners.learner_id
    group by
        learners.company_id,
        enrollments.course_id,
        cast({{ dbt.date_trunc('month', 'enrollments.enrolled_at') }} as date)
),

-- Every quiz attempt submitted in the month counts (practice attempts included).
quiz_months as (
    select
        learners.company_id,
        items.course_id,
        cast({{ dbt.date_trunc('month', 'attempts.submitted_at') }} as date) as activity_month,
        count(*) as n_quiz_attempts,
        count(distinct attempts.learner_id) as n_quiz_learners,
        avg(attempts.score_normalised) as mean_quiz_score
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

months as (
    select company_id, course_id, activity_month from enrollment_months
    union
    select company_id, course_id, activity_month from quiz_months
),

-- A row describes two groups of the company's learners: those who enrolled in the month and
-- those who made quiz attempts in it. When either has 1 to min_company_learners - 1 learners,
-- every figure of the row is withheld: a completion rate or a count of two enrolled learners is
-- what those two did. An empty group (no enrollment, or no quiz attempt) describes nobody.
assembled as (
    select
        months.company_id,
        months.course_id,
        months.activity_month,
        coalesce(enrollment_months.n_enrollments, 0) as n_enrollments,
        coalesce(enrollment_months.n_completions, 0) as n_completions,
        enrollment_months.n_completions * 1.0 / nullif(enrollment_months.n_enrollments, 0)
            as completion_rate,
        coalesce(quiz_months.n_quiz_attempts, 0) as n_quiz_attempts,
        coalesce(quiz_months.n_quiz_learners, 0) as n_quiz_learners,
        quiz_months.mean_quiz_score,
        coalesce(enrollment_months.n_enrolled_learners, 0)
            between 1 and {{ min_company_learners }} - 1
        or coalesce(quiz_months.n_quiz_learners, 0)
            between 1 and {{ min_company_learners }} - 1 as is_suppressed
    from months
    left join enrollment_months
        on months.company_id = enrollment_months.company_id
        and months.course_id = enrollment_months.course_id
        and months.activity_month = enrollment_months.activity_month
    left join quiz_months
        on months.company_id = quiz_months.company_id
        and months.course_id = quiz_months.course_id
        and months.activity_month = quiz_months.activity_month
),

final as (
    select
        assembled.company_id,
        assembled.course_id,
        courses.title as course_title,
        assembled.activity_month,
        cast(case when not assembled.is_suppressed then assembled.n_enrollments end as integer)
            as enrollments,
        cast(case when not assembled.is_suppressed then assembled.n_completions end as integer)
            as completions,
        cast(
            case when not assembled.is_suppressed then round(assembled.completion_rate, 4) end
            as double
        ) as completion_rate,
        cast(case when not assembled.is_suppressed then assembled.n_quiz_attempts end as integer)
            as n_quiz_attempts,
        cast(case when not assembled.is_suppressed then assembled.n_quiz_learners end as integer)
            as n_quiz_learners,
        assembled.is_suppressed,
        cast(
            case when not assembled.is_suppressed then round(assembled.mean_quiz_score, 4) end
            as double
        ) as mean_quiz_score
    from assembled
    left join courses
        on assembled.course_id = courses.course_id
)

select * from final
