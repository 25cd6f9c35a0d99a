{%- set assignment_categories = var('assignment_categories', 4) | int -%}
{%- if assignment_categories < 2 -%}
    {{ exceptions.raise_compiler_error(
        "var assignment_categories must be at least 2; got " ~ assignment_categories
    ) }}
{%- endif -%}

{#-
    Incremental by learner: a learner's rows are rebuilt when the learner has a changed
    learner x item pair (changed_attempt_pairs), a new company, or a response on an item whose
    IRT-relevant dimensions changed (item type, course level, candidate skills: the item's
    fingerprint). Everything a row holds, entry_level included (it looks at all of a learner's
    responses in the skill), depends only on the learner's own attempts and those dimensions.
    A learner left without rows gets a placeholder that the post-hook deletes.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['learner_id'],
    on_schema_change='fail',
    post_hook="delete from {{ this }} where skill_id is null",
) }}

with

all_scored_attempts as (select * from {{ ref('int_attempts_scored') }}),

items as (select * from {{ ref('stg_items') }}),

candidate_skills as (select * from {{ ref('int_item_candidate_skills') }}),

learners as (select * from {{ ref('stg_learners') }}),

courses as (select * from {{ ref('stg_courses') }}),

-- What a row takes from the item's dimensions, as one hash per item.
item_fingerprints as (
    select
        items.item_id,
        hash(
            items.item_type,
            courses.level,
            list(
                candidate_skills.skill_id || ':' || candidate_skills.is_given
                || ':' || candidate_skills.n_candidates
                order by candidate_skills.skill_id
            )
        ) as item_fingerprint
    from items
    left join courses on items.course_id = courses.course_id
    left join candidate_skills on items.item_id = candidate_skills.item_id
    group by
        items.item_id,
        items.item_type,
        courses.level
),

{% if is_incremental() %}
landed as (select * from {{ ref('stg_attempts_landed') }}),

changed_items as (
    (
        select distinct item_id, item_fingerprint from {{ this }}
        except
        select item_id, item_fingerprint from item_fingerprints
    )
    union
    (
        select item_id, item_fingerprint from item_fingerprints
        except
        select distinct item_id, item_fingerprint from {{ this }}
    )
),

changed_learners as (
    select learner_id from ({{ changed_attempt_pairs('landed') }})
    union
    select responses.learner_id
    from {{ this }} as responses
    inner join learners on responses.learner_id = learners.learner_id
    where responses.company_id is distinct from learners.company_id
    union
    select all_scored_attempts.learner_id
    from all_scored_attempts
    semi join changed_items on all_scored_attempts.item_id = changed_items.item_id
),

scored_attempts as (
    select all_scored_attempts.*
    from all_scored_attempts
    semi join changed_learners on all_scored_attempts.learner_id = changed_learners.learner_id
),
{% else %}
scored_attempts as (select * from all_scored_attempts),
{% endif %}

-- A quiz question is right or wrong; an assignment's partial credit falls in one of K ordered
-- categories, floor(score_normalised * K), with full marks in the top one.
categorised as (
    select
        scored_attempts.learner_id,
        scored_attempts.item_id,
        scored_attempts.submitted_at,
        items.item_type,
        courses.level as course_level,
        case
            when items.item_type = 'quiz'
                then case when scored_attempts.score_normalised >= 0.5 then 1 else 0 end
            else least(
                {{ assignment_categories - 1 }},
                cast(floor(scored_attempts.score_normalised * {{ assignment_categories }}) as integer)
            )
        end as response,
        case
            when items.item_type = 'quiz' then 2
            else {{ assignment_categories }}
        end as n_categories
    from scored_attempts
    inner join items on scored_attempts.item_id = items.item_id
    left join courses on items.course_id = courses.course_id
),

-- An item whose skill is not settled (no skill_id, several course skills) gets one row per
-- candidate skill; the IRT asset decides which one it assesses.
responses_by_skill as (
    select
        candidate_skills.skill_id,
        categorised.learner_id,
        categorised.item_id,
        learners.company_id,
        categorised.item_type,
        categorised.response,
        categorised.n_categories,
        categorised.submitted_at,
        -- The level of the course in which the learner first answered an item of the skill:
        -- where they entered it. Learners choose courses near their own level, so this is the
        -- design group of a multiple-group calibration (irt_models, groups=).
        coalesce(
            first_value(categorised.course_level) over (
                partition by candidate_skills.skill_id, categorised.learner_id
                order by categorised.submitted_at, categorised.item_id
            ),
            'unknown'
        ) as entry_level,
        not candidate_skills.is_given and candidate_skills.n_candidates > 1 as is_candidate
    from categorised
    inner join candidate_skills on categorised.item_id = candidate_skills.item_id
    inner join learners on categorised.learner_id = learners.learner_id
),

final as (
    select
        responses_by_skill.skill_id,
        responses_by_skill.learner_id,
        responses_by_skill.item_id,
        responses_by_skill.company_id,
        responses_by_skill.item_type,
        cast(responses_by_skill.response as integer) as response,
        cast(responses_by_skill.n_categories as integer) as n_categories,
        responses_by_skill.submitted_at,
        responses_by_skill.entry_level,
        responses_by_skill.is_candidate,
        item_fingerprints.item_fingerprint,
        (select max(processed_at) from {{ ref('stg_attempts_landed') }}) as landed_processed_at
    from responses_by_skill
    left join item_fingerprints on responses_by_skill.item_id = item_fingerprints.item_id
    {%- if is_incremental() %}
    union all
    -- Placeholder for a changed learner without responses (deleted by the post-hook).
    select
        null, changed_learners.learner_id, null, null, null, null, null, null, null, null, null,
        (select max(processed_at) from landed)
    from changed_learners
    anti join responses_by_skill on changed_learners.learner_id = responses_by_skill.learner_id
    {%- endif %}
)

select * from final
