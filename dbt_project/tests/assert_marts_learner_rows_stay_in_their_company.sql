{{ config(meta={'dagster': {'ref': {'name': 'learner_skill_scores'}}}) }}
-- depends_on: {{ ref('learner_skill_scores') }}
-- A returned row is a learner-level mart row whose company_id is not the learner's own company
-- in stg_learners (or whose learner is unknown): one company's learner shown to another.
with

learners as (select * from {{ ref('stg_learners') }}),

learner_rows as (
    select 'learner_skill_scores' as mart, learner_id, company_id
    from {{ ref('learner_skill_scores') }}
    union all
    select 'learner_skill_percentiles', learner_id, company_id
    from {{ ref('learner_skill_percentiles') }}
    union all
    select 'top_learners', learner_id, company_id
    from {{ ref('top_learners') }}
    union all
    select 'course_recommendations', learner_id, company_id
    from {{ ref('course_recommendations') }}
    where recommendation_for = 'learner'
    union all
    select 'skill_gains', learner_id, company_id
    from {{ ref('skill_gains') }}
    where gain_for = 'learner'
)

select
    learner_rows.mart,
    learner_rows.learner_id,
    learner_rows.company_id,
    learners.company_id as learners_company_id
from learner_rows
left join learners
    on learner_rows.learner_id = learners.learner_id
where learners.company_id is null
    or learners.company_id <> learner_rows.company_id
