{%- set min_peer_companies = marts_privacy_threshold('min_peer_companies') -%}
{%- set min_company_learners = marts_privacy_threshold('min_company_learners') -%}

with

-- Each company's mean ability per skill, estimated by the IRT scoring run from all its
-- learners' responses with the items fixed (irt_models.score_groups; docs: company_score).
group_abilities as (select * from {{ source('irt', 'group_abilities') }}),

companies as (select * from {{ ref('stg_companies') }}),

company_peer_groups as (
    {{ marts_company_peer_groups('companies') }}
),

-- Every company with at least one scored learner in the skill gets rows; n_learners counts
-- the learners whose responses enter the estimate.
company_scores as (
    select
        group_value as company_id,
        skill_id,
        n_learners,
        theta,
        theta_se,
        -- The group estimate has no learner weights; kept so that the column stays.
        cast(null as double) as max_weight_share
    from group_abilities
    where group_type = 'company'
),

company_skills as (
    select
        company_id,
        skill_id
    from company_scores
),

-- Companies whose own score may be shown; only they form peer distributions.
benchmarkable as (
    select
        company_scores.company_id,
        company_scores.skill_id,
        company_scores.theta,
        company_peer_groups.peer_group_type,
        company_peer_groups.peer_group_value
    from company_scores
    inner join company_peer_groups
        on company_scores.company_id = company_peer_groups.company_id
    where company_scores.n_learners >= {{ min_company_learners }}
),

peer_members as (
    select
        skill_id,
        peer_group_type,
        peer_group_value,
        theta as value
    from benchmarkable
),

-- The peer median is the mean of the central 3 (odd) or 4 (even) companies, withheld when it
-- would equal one company's score: never one company's exact score (macro marts_peer_median).
peer_medians as (
    {{ marts_peer_median('peer_members', ['skill_id', 'peer_group_type', 'peer_group_value']) }}
),

peer_groups as (
    select
        skill_id,
        peer_group_type,
        peer_group_value,
        n_members as peer_companies,
        peer_median as peer_median_theta
    from peer_medians
),

percentile_queries as (
    select
        skill_id,
        peer_group_type,
        peer_group_value,
        company_id,
        theta as value
    from benchmarkable
),

company_percentiles as (
    {{ marts_midrank_percentile(
        'peer_members',
        'percentile_queries',
        ['skill_id', 'peer_group_type', 'peer_group_value'],
        ['company_id']
    ) }}
),

assembled as (
    select
        company_skills.company_id,
        company_skills.skill_id,
        company_peer_groups.peer_group_type,
        company_peer_groups.peer_group_value,
        coalesce(company_scores.n_learners, 0) as n_learners,
        coalesce(peer_groups.peer_companies, 0) as peer_companies,
        company_scores.theta,
        company_scores.theta_se,
        company_scores.max_weight_share,
        company_percentiles.percentile,
        peer_groups.peer_median_theta,
        case
            when coalesce(company_scores.n_learners, 0) < {{ min_company_learners }}
                then 'too_few_learners'
            when coalesce(peer_groups.peer_companies, 0) < {{ min_peer_companies }}
                then 'too_few_peer_companies'
        end as suppression_reason
    from company_skills
    inner join company_peer_groups
        on company_skills.company_id = company_peer_groups.company_id
    left join company_scores
        on company_skills.company_id = company_scores.company_id
        and company_skills.skill_id = company_scores.skill_id
    left join peer_groups
        on company_skills.skill_id = peer_groups.skill_id
        and company_peer_groups.peer_group_type = peer_groups.peer_group_type
        and company_peer_groups.peer_group_value = peer_groups.peer_group_value
    left join company_percentiles
        on company_skills.company_id = company_percentiles.company_id
        and company_skills.skill_id = company_percentiles.skill_id
        and company_peer_groups.peer_group_type = company_percentiles.peer_group_type
),

shown as (
    select
        company_id,
        skill_id,
        peer_group_type,
        peer_group_value,
        n_learners,
        peer_companies,
        suppression_reason,
        suppression_reason is not null as is_suppressed,
        case when suppression_reason is null then theta end as theta,
        case when suppression_reason is null then theta_se end as theta_se,
        case when suppression_reason is null then max_weight_share end as max_weight_share,
        case when suppression_reason is null then percentile end as percentile,
        case when suppression_reason is null then peer_median_theta end as peer_median_theta
    from assembled
),

final as (
    select
        company_id,
        skill_id,
        peer_group_type,
        peer_group_value,
        is_suppressed,
        suppression_reason,
        cast(n_learners as integer) as n_learners,
        cast(peer_companies as integer) as peer_companies,
        cast(theta as double) as company_theta,
        cast(theta_se as double) as company_theta_se,
        {{ marts_theta_to_score('theta', 1) }} as company_score,
        {{ marts_se_to_score('theta_se') }} as company_score_se,
        {{ marts_proficiency_level(marts_theta_to_score('theta', 1)) }} as company_level,
        cast(max_weight_share as double) as max_weight_share,
        cast(percentile as double) as peer_percentile,
        -- Edges are on the unrounded percentile: (75, 100] (50, 75] (25, 50] [0, 25].
        case
            when percentile is null then null
            when percentile > 75 then 'Cutting-Edge'
            when percentile > 50 then 'Competitive'
            when percentile > 25 then 'Emerging'
            else 'Lagging'
        end as band,
        {{ marts_theta_to_score('peer_median_theta', 1) }} as peer_median_score,
        cast(
            round(
                {{ marts_theta_to_score('peer_median_theta', 1) }}
                - {{ marts_theta_to_score('theta', 1) }},
                1
            ) as double
        ) as gap_to_peer_median
    from shown
)

select * from final
