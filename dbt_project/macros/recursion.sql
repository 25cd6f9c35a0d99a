{#- known_skills of stg_skills_landed: the seed skills, landed top-level skills, and landed
    skills whose chain of parents reaches one of them (see the model). -#}
{% macro known_skills_cte(taxonomy, typed) -%}
    {{ return(adapter.dispatch('known_skills_cte')(taxonomy, typed)) }}
{%- endmacro %}

{#- UNION keeps each skill once, which ends the recursion on a cycle. -#}
{% macro default__known_skills_cte(taxonomy, typed) -%}
known_skills(skill_id) as (
    select skill_id from {{ taxonomy }}
    union
    select skill_id from {{ typed }}
    where skill_id is not null
        and skill_name is not null
        and parent_skill_id is null
    union
    select {{ typed }}.skill_id
    from {{ typed }}
    inner join known_skills on {{ typed }}.parent_skill_id = known_skills.skill_id
    where {{ typed }}.skill_id is not null
        and {{ typed }}.skill_name is not null
),
{%- endmacro %}

{#- Spark 4.3 allows only UNION ALL in a recursive CTE, so a cycle would not end by itself:
    the walk follows distinct (skill, parent) edges to a depth of 64 (a taxonomy is a few levels
    deep; a cycle is walked round until then), and known_skills keeps each skill once. -#}
{% macro spark__known_skills_cte(taxonomy, typed) -%}
skill_edges as (
    select distinct skill_id, parent_skill_id
    from {{ typed }}
    where skill_id is not null
        and skill_name is not null
),

known_skills_walk(skill_id, depth) as (
    select skill_id, 0 from {{ taxonomy }}
    union all
    select skill_id, 0 from skill_edges
    where parent_skill_id is null
    union all
    select skill_edges.skill_id, known_skills_walk.depth + 1
    from skill_edges
    inner join known_skills_walk on skill_edges.parent_skill_id = known_skills_walk.skill_id
    where known_skills_walk.depth < 64
),

known_skills as (
    select distinct skill_id from known_skills_walk
),
{%- endmacro %}
