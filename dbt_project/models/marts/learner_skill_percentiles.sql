{%- set min_peer_companies = marts_privacy_threshold('min_peer_companies') -%}

with

scores as (select * from {{ ref('learner_skill_scores') }}),

companies as (select * from {{ ref('stg_companies') }}),

company_peer_groups as (
    {{ marts_company_peer_groups('companies') }}
),

-- Every scored learner in each of its company's four peer groups.
learner_peer_groups as (
    select
        scores.learner_id,
        scores.company_id,
        scores.skill_id,
        company_peer_groups.peer_group_type,
        company_peer_groups.peer_group_value,
        scores.theta,
        scores.theta_se,
        scores.is_reportable
    from scores
    inner join company_peer_groups
        on scores.company_id = company_peer_groups.company_id
),

-- The distribution a learner is placed in: reportable learners of every company in the group,
-- the learner's own company included.
peer_members as (
    select
        skill_id,
        peer_group_type,
        peer_group_value,
        company_id,
        theta as value
    from learner_peer_groups
    where is_reportable
),

-- Only companies with at least min_company_learners reportable learners in the skill count
-- toward min_peer_companies, as in company_skill_benchmarks; the distribution above still holds
-- every reportable learner of the group.
peer_counted_companies as (
    {{ marts_peer_counted_companies('scores') }}
),

peer_group_companies as (
    select
        peer_counted_companies.skill_id,
        company_peer_groups.peer_group_type,
        company_peer_groups.peer_group_value,
        count(*) as peer_companies
    from peer_counted_companies
    inner join company_peer_groups
        on peer_counted_companies.company_id = company_peer_groups.company_id
    group by
        peer_counted_companies.skill_id,
        company_peer_groups.peer_group_type,
        company_peer_groups.peer_group_value
),

peer_group_sizes as (
    select
        peer_members.skill_id,
        peer_members.peer_group_type,
        peer_members.peer_group_value,
        count(*) as peer_learners,
        coalesce(max(peer_group_companies.peer_companies), 0) as peer_companies
    from peer_members
    left join peer_group_companies
        on peer_members.skill_id = peer_group_companies.skill_id
        and peer_members.peer_group_type = peer_group_companies.peer_group_type
        and peer_members.peer_group_value = peer_group_companies.peer_group_value
    group by
        peer_members.skill_id,
        peer_members.peer_group_type,
        peer_members.peer_group_value
),

-- Three values per reportable learner: theta and the ends of its 95% interval.
percentile_queries as (
    select skill_id, peer_group_type, peer_group_value, learner_id, 'point' as bound, theta as value
    from learner_peer_groups
    where is_reportable
    union all
    select skill_id, peer_group_type, peer_group_value, learner_id, 'low', theta - 1.96 * theta_se
    from learner_peer_groups
    where is_reportable
    union all
    select skill_id, peer_group_type, peer_group_value, learner_id, 'high', theta + 1.96 * theta_se
    from learner_peer_groups
    where is_reportable
),

placed as (
    {{ marts_midrank_percentile(
        'peer_members',
        'percentile_queries',
        ['skill_id', 'peer_group_type', 'peer_group_value'],
        ['learner_id', 'bound']
    ) }}
),

learner_percentiles as (
    select
        learner_id,
        skill_id,
        peer_group_type,
        max(case when bound = 'point' then percentile end) as percentile,
        max(case when bound = 'low' then percentile end) as percentile_low,
        max(case when bound = 'high' then percentile end) as percentile_high
    from placed
    group by
        learner_id,
        skill_id,
        peer_group_type
),

final as (
    select
        learner_peer_groups.learner_id,
        learner_peer_groups.company_id,
        learner_peer_groups.skill_id,
        learner_peer_groups.peer_group_type,
        learner_peer_groups.peer_group_value,
        learner_peer_groups.is_reportable,
        coalesce(peer_group_sizes.peer_companies, 0) < {{ min_peer_companies }} as is_suppressed,
        case
            when coalesce(peer_group_sizes.peer_companies, 0) < {{ min_peer_companies }}
                then 'too_few_peer_companies'
            when not learner_peer_groups.is_reportable then 'learner_not_reportable'
        end as null_reason,
        case
            when coalesce(peer_group_sizes.peer_companies, 0) >= {{ min_peer_companies }}
                then cast(learner_percentiles.percentile as double)
        end as percentile,
        case
            when coalesce(peer_group_sizes.peer_companies, 0) >= {{ min_peer_companies }}
                then cast(learner_percentiles.percentile_low as double)
        end as percentile_low,
        case
            when coalesce(peer_group_sizes.peer_companies, 0) >= {{ min_peer_companies }}
                then cast(learner_percentiles.percentile_high as double)
        end as percentile_high,
        case
            when coalesce(peer_group_sizes.peer_companies, 0) >= {{ min_peer_companies }}
                then cast(peer_group_sizes.peer_learners as integer)
        end as peer_learners,
        cast(coalesce(peer_group_sizes.peer_companies, 0) as integer) as peer_companies
    from learner_peer_groups
    left join peer_group_sizes
        on learner_peer_groups.skill_id = peer_group_sizes.skill_id
        and learner_peer_groups.peer_group_type = peer_group_sizes.peer_group_type
        and learner_peer_groups.peer_group_value = peer_group_sizes.peer_group_value
    left join learner_percentiles
        on learner_peer_groups.learner_id = learner_percentiles.learner_id
        and learner_peer_groups.skill_id = learner_percentiles.skill_id
        and learner_peer_groups.peer_group_type = learner_percentiles.peer_group_type
)

select * from final
