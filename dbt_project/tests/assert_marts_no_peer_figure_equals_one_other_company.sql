{{ config(meta={'dagster': {'ref': {'name': 'learner_skill_scores'}}}) }}
-- depends_on: {{ ref('learner_skill_scores') }}
-- A returned row is a published peer figure that equals, at its published precision (one
-- decimal on the 0-500 scale), the company score of exactly one company of the peer group, and
-- that company is not the row's own: the figure discloses another company's score. A score
-- shared by several companies singles none out. Peer figures: peer_median_score and the
-- median implied by the gap to it (own score + gap), in company_skill_benchmarks and in
-- skill_gaps (whose peer group is the company's industry).
with

benchmarks as (select * from {{ ref('company_skill_benchmarks') }}),

gaps as (select * from {{ ref('skill_gaps') }}),

-- The companies of each peer group whose own score exists (the benchmarkable ones); a
-- suppressed row has no company_score.
group_scores as (
    select
        skill_id,
        peer_group_type,
        peer_group_value,
        company_id,
        round(company_score * 10) as score_tenths
    from benchmarks
    where company_score is not null
),

company_industries as (
    select
        company_id,
        skill_id,
        peer_group_value
    from benchmarks
    where peer_group_type = 'industry'
),

peer_figures as (
    select
        'company_skill_benchmarks' as mart,
        'peer_median_score' as figure,
        company_id,
        skill_id,
        peer_group_type,
        peer_group_value,
        cast(null as {{ text_type() }}) as job_role,
        peer_median_score as figure_value
    from benchmarks
    where peer_median_score is not null
    union all
    select
        'company_skill_benchmarks',
        'company_score + gap_to_peer_median',
        company_id,
        skill_id,
        peer_group_type,
        peer_group_value,
        null,
        company_score + gap_to_peer_median
    from benchmarks
    where gap_to_peer_median is not null
    union all
    select
        'skill_gaps',
        'peer_median_score',
        gaps.company_id,
        gaps.skill_id,
        'industry',
        company_industries.peer_group_value,
        gaps.job_role,
        gaps.peer_median_score
    from gaps
    inner join company_industries
        on gaps.company_id = company_industries.company_id
        and gaps.skill_id = company_industries.skill_id
    where gaps.peer_median_score is not null
    union all
    select
        'skill_gaps',
        'current_score + gap_to_peers',
        gaps.company_id,
        gaps.skill_id,
        'industry',
        company_industries.peer_group_value,
        gaps.job_role,
        gaps.current_score + gaps.gap_to_peers
    from gaps
    inner join company_industries
        on gaps.company_id = company_industries.company_id
        and gaps.skill_id = company_industries.skill_id
    where gaps.gap_to_peers is not null
),

matches as (
    select
        peer_figures.mart,
        peer_figures.figure,
        peer_figures.company_id,
        peer_figures.skill_id,
        peer_figures.peer_group_type,
        peer_figures.peer_group_value,
        peer_figures.job_role,
        peer_figures.figure_value,
        count(*) as n_companies_with_that_score,
        min(group_scores.company_id) as disclosed_company_id
    from peer_figures
    inner join group_scores
        on peer_figures.skill_id = group_scores.skill_id
        and peer_figures.peer_group_type = group_scores.peer_group_type
        and peer_figures.peer_group_value = group_scores.peer_group_value
        and round(peer_figures.figure_value * 10) = group_scores.score_tenths
    group by
        peer_figures.mart,
        peer_figures.figure,
        peer_figures.company_id,
        peer_figures.skill_id,
        peer_figures.peer_group_type,
        peer_figures.peer_group_value,
        peer_figures.job_role,
        peer_figures.figure_value
)

select * from matches
where n_companies_with_that_score = 1
    and disclosed_company_id <> company_id
