{{ config(meta={'dagster': {'ref': {'name': 'learner_skill_scores'}}}) }}
-- depends_on: {{ ref('learner_skill_scores') }}
-- A returned row is a suppressed mart row (is_suppressed true) that still shows a figure.
select 'company_skill_benchmarks' as mart, company_id, skill_id
from {{ ref('company_skill_benchmarks') }}
where is_suppressed
    and (
        company_theta is not null or company_theta_se is not null or company_score is not null
        or company_score_se is not null or company_level is not null or max_weight_share is not null
        or peer_percentile is not null or band is not null or peer_median_score is not null
        or gap_to_peer_median is not null
    )
union all
select 'learner_skill_percentiles', company_id, skill_id
from {{ ref('learner_skill_percentiles') }}
where is_suppressed
    and (
        percentile is not null or percentile_low is not null or percentile_high is not null
        or peer_learners is not null
    )
union all
select 'skill_gaps', company_id, skill_id
from {{ ref('skill_gaps') }}
where is_suppressed
    and (
        current_score is not null or current_score_se is not null or current_level is not null
        or gap is not null or peer_median_score is not null or gap_to_peers is not null
        or n_learners_below_target is not null or priority is not null
    )
union all
select 'skill_gains', company_id, skill_id
from {{ ref('skill_gains') }}
where is_suppressed
    and (
        score_start is not null or score_end is not null or gain is not null or gain_se is not null
        or gain_theta is not null or gain_se_theta is not null or is_significant is not null
    )
union all
select 'learning_activity', company_id, course_id
from {{ ref('learning_activity') }}
where is_suppressed
    and (
        enrollments is not null or completions is not null or completion_rate is not null
        or n_quiz_attempts is not null or n_quiz_learners is not null or mean_quiz_score is not null
    )
