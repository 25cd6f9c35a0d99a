{{ config(meta={'dagster': {'ref': {'name': 'learner_skill_scores'}}}) }}
-- depends_on: {{ ref('learner_skill_scores') }}
-- A returned row is a privacy threshold configured below 3, the floor docs/marts.md
-- allows. (The marts also refuse to compile then, through marts_privacy_threshold.)
select
    threshold,
    configured
from (
    select 'min_peer_companies' as threshold, {{ var('min_peer_companies') }} as configured
    union all
    select 'min_company_learners', {{ var('min_company_learners') }}
) as thresholds
where configured < 3
