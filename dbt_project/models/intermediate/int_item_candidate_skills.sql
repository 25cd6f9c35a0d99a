with

items as (select * from {{ ref('stg_items') }}),

course_skills as (select * from {{ ref('stg_course_skills') }}),

given_skills as (
    select
        item_id,
        course_id,
        skill_id,
        true as is_given
    from items
    where skill_id is not null
),

-- An item without a skill_id assesses one of its course's skills; every one is a candidate.
course_skill_candidates as (
    select
        items.item_id,
        items.course_id,
        course_skills.skill_id,
        false as is_given
    from items
    inner join course_skills on items.course_id = course_skills.course_id
    where items.skill_id is null
),

candidates as (
    select * from given_skills
    union all
    select * from course_skill_candidates
),

counted as (
    select
        item_id,
        course_id,
        skill_id,
        is_given,
        cast(count(*) over (partition by item_id) as integer) as n_candidates
    from candidates
),

-- is_candidate: the item's skill is not settled (macro is_candidate_item, the rule's one home).
final as (
    select
        item_id,
        course_id,
        skill_id,
        is_given,
        n_candidates,
        {{ is_candidate_item('is_given', 'n_candidates') }} as is_candidate
    from counted
)

select * from final
