{#- Courses to take next, for a company's skill gaps and for each learner's weakest skills.
    A course fits when the calibrated difficulty of its items in the skill is at or above the
    current ability and at most var recommendation_max_stretch logits (default 1 = 50 score
    points, one proficiency level) above it. -#}
{%- set max_stretch = var('recommendation_max_stretch') -%}
{%- set per_skill = var('recommendations_per_skill') -%}
{%- set weakest_skills = var('recommendation_weakest_skills') -%}

with

item_parameters as (select * from {{ source('irt', 'item_parameters') }}),

item_skill_assignments as (select * from {{ source('irt', 'item_skill_assignments') }}),

items as (select * from {{ ref('stg_items') }}),

course_skills as (select * from {{ ref('stg_course_skills') }}),

courses as (select * from {{ ref('stg_courses') }}),

enrollments as (select * from {{ ref('stg_enrollments') }}),

scores as (select * from {{ ref('learner_skill_scores') }}),

gaps as (select * from {{ ref('skill_gaps') }}),

-- Usable calibrated items, in the skill the IRT asset assigned them to, of a course that
-- teaches that skill.
course_items as (
    select
        items.course_id,
        item_parameters.skill_id,
        item_parameters.item_id,
        cast(item_parameters.slope as double) as slope,
        cast(item_parameters.difficulty as double) as difficulty
    from item_parameters
    inner join item_skill_assignments
        on item_parameters.item_id = item_skill_assignments.item_id
        and item_parameters.skill_id = item_skill_assignments.skill_id
    inner join items
        on item_parameters.item_id = items.item_id
    inner join course_skills
        on items.course_id = course_skills.course_id
        and item_parameters.skill_id = course_skills.skill_id
    where item_parameters.flag is null
        and item_parameters.difficulty is not null
),

course_difficulty as (
    select
        course_items.course_id,
        course_items.skill_id,
        count(*) as n_calibrated_items,
        avg(course_items.difficulty) as difficulty
    from course_items
    group by
        course_items.course_id,
        course_items.skill_id
),

completed as (
    select distinct
        learner_id,
        course_id
    from enrollments
    where completed_at is not null
),

-- Targets: a company's skills with a gap to its role targets or its industry peers, and each
-- learner's weakest skills.
company_targets as (
    select
        'company' as recommendation_for,
        gaps.company_id,
        cast(null as {{ text_type() }}) as learner_id,
        gaps.skill_id,
        gaps.skill_name,
        (gaps.current_score - 250) / 50.0 as theta,
        gaps.current_score,
        gaps.gap,
        gaps.gap_to_peers
    from gaps
    where gaps.job_role is null
        and not gaps.is_suppressed
        and (gaps.gap > 0 or gaps.gap_to_peers > 0)
),

-- Weakest among the reportable scores only: a skill measured by one or two items sits near the
-- prior mean (theta about 0, SE about 0.9), which says little about the learner.
ranked_learner_skills as (
    select
        scores.*,
        row_number() over (
            partition by scores.learner_id
            order by scores.theta, scores.skill_id
        ) as weakness_rank
    from scores
    where scores.is_reportable
),

learner_targets as (
    select
        'learner' as recommendation_for,
        company_id,
        learner_id,
        skill_id,
        skill_name,
        theta,
        cast(skill_score as double) as current_score,
        cast(null as double) as gap,
        cast(null as double) as gap_to_peers
    from ranked_learner_skills
    where weakness_rank <= {{ weakest_skills }}
),

targets as (
    select * from company_targets
    union all
    select * from learner_targets
),

-- Learners of the company, scored in the skill, who have not completed the course: the
-- company's scored learners less those who completed it (counting the completions instead of
-- pairing every scored learner with every course of the skill, ~20x fewer rows at size M).
company_scored_learners as (
    select
        scores.company_id,
        scores.skill_id,
        count(*) as n_learners
    from scores
    group by
        scores.company_id,
        scores.skill_id
),

company_completions as (
    select
        scores.company_id,
        scores.skill_id,
        completed.course_id,
        count(*) as n_learners_completed
    from scores
    inner join completed
        on scores.learner_id = completed.learner_id
    group by
        scores.company_id,
        scores.skill_id,
        completed.course_id
),

company_open_learners as (
    select
        company_scored_learners.company_id,
        company_scored_learners.skill_id,
        course_difficulty.course_id,
        company_scored_learners.n_learners
            - coalesce(company_completions.n_learners_completed, 0) as n_learners_not_completed
    from company_scored_learners
    inner join course_difficulty
        on company_scored_learners.skill_id = course_difficulty.skill_id
    left join company_completions
        on company_scored_learners.company_id = company_completions.company_id
        and company_scored_learners.skill_id = company_completions.skill_id
        and course_difficulty.course_id = company_completions.course_id
),

candidates as (
    select
        targets.*,
        course_difficulty.course_id,
        course_difficulty.n_calibrated_items,
        course_difficulty.difficulty,
        company_open_learners.n_learners_not_completed,
        row_number() over (
            partition by
                targets.recommendation_for,
                targets.company_id,
                targets.learner_id,
                targets.skill_id
            order by
                course_difficulty.difficulty - targets.theta,
                course_difficulty.course_id
        ) as recommendation_rank
    from targets
    inner join course_difficulty
        on targets.skill_id = course_difficulty.skill_id
    left join completed
        on targets.learner_id = completed.learner_id
        and course_difficulty.course_id = completed.course_id
    left join company_open_learners
        on targets.company_id = company_open_learners.company_id
        and targets.skill_id = company_open_learners.skill_id
        and course_difficulty.course_id = company_open_learners.course_id
    where course_difficulty.difficulty >= targets.theta
        and course_difficulty.difficulty <= targets.theta + {{ max_stretch }}
        and (
            (targets.recommendation_for = 'learner' and completed.learner_id is null)
            or (targets.recommendation_for = 'company' and company_open_learners.n_learners_not_completed > 0)
        )
),

kept as (
    select * from candidates
    where recommendation_rank <= {{ per_skill }}
),

-- Expected proportion correct at the current theta, averaged over the course's items
-- (2PL curve; for graded items at their mean threshold, an expected score share).
expected_fit as (
    select
        kept.recommendation_for,
        kept.company_id,
        kept.learner_id,
        kept.skill_id,
        kept.course_id,
        avg(1.0 / (1.0 + exp(-course_items.slope * (kept.theta - course_items.difficulty))))
            as expected_proportion_correct
    from kept
    inner join course_items
        on kept.course_id = course_items.course_id
        and kept.skill_id = course_items.skill_id
    group by
        kept.recommendation_for,
        kept.company_id,
        kept.learner_id,
        kept.skill_id,
        kept.course_id
),

described as (
    select
        kept.*,
        courses.title as course_title,
        {{ marts_theta_to_score('kept.difficulty') }} as course_difficulty_score,
        expected_fit.expected_proportion_correct
    from kept
    inner join expected_fit
        on kept.recommendation_for = expected_fit.recommendation_for
        and kept.company_id = expected_fit.company_id
        and coalesce(kept.learner_id, '') = coalesce(expected_fit.learner_id, '')
        and kept.skill_id = expected_fit.skill_id
        and kept.course_id = expected_fit.course_id
    left join courses
        on kept.course_id = courses.course_id
),

final as (
    select
        recommendation_for,
        company_id,
        cast(learner_id as {{ text_type() }}) as learner_id,
        skill_id,
        skill_name,
        course_id,
        course_title,
        cast(recommendation_rank as integer) as rank,
        cast(round(current_score, 1) as double) as current_score,
        course_difficulty_score,
        cast(n_calibrated_items as integer) as n_calibrated_items,
        cast(round(expected_proportion_correct, 3) as double) as expected_proportion_correct,
        case
            when recommendation_for = 'company' then
                'Company gap in ' || coalesce(skill_name, skill_id)
                || case
                    when gap > 0 then ' (' || cast(gap as {{ text_type() }}) || ' points below role targets)'
                    else ' (' || cast(gap_to_peers as {{ text_type() }}) || ' points below the industry median)'
                end
                || ': course items at ' || cast(course_difficulty_score as {{ text_type() }})
                || ' vs company ' || cast(round(current_score, 1) as {{ text_type() }})
                || ', about ' || cast(cast(round(100 * expected_proportion_correct) as integer) as {{ text_type() }})
                || '% expected correct; ' || cast(n_learners_not_completed as {{ text_type() }})
                || ' learners have not completed it.'
            else
                'One of your weakest skills, ' || coalesce(skill_name, skill_id)
                || ': course items at ' || cast(course_difficulty_score as {{ text_type() }})
                || ' vs your ' || cast(cast(current_score as integer) as {{ text_type() }})
                || ', about ' || cast(cast(round(100 * expected_proportion_correct) as integer) as {{ text_type() }})
                || '% expected correct.'
        end as why
    from described
)

select * from final
