{#- The health of the item bank, for the analytics engineer: one row per skill x item in
    irt.item_parameters with its parameters, whether they score learners, its worst DIF over
    the groupings of learners by company, its drift, and one status. Item-level only: no
    learner, no company. health_status takes the first rule that applies:
    unfair (flag dif), drifting (flag drift), superseded (its later responses belong to a newer
    version, irt.item_versions), not_scored (not is_scoring), review (any other flag, B- or
    C-class DIF, or a flagged drift window), ok. -#}
{%- set unscored_flags = ['too_few_responses', 'single_category', 'negative_discrimination', 'dif', 'drift'] -%}

with

item_parameters as (select * from {{ source('irt', 'item_parameters') }}),

item_skill_assignments as (select * from {{ source('irt', 'item_skill_assignments') }}),

item_dif as (select * from {{ source('irt', 'item_dif') }}),

item_drift as (select * from {{ source('irt', 'item_drift') }}),

item_versions as (select * from {{ source('irt', 'item_versions') }}),

items as (select * from {{ ref('stg_items') }}),

courses as (select * from {{ ref('stg_courses') }}),

skills as (select * from {{ ref('stg_skills') }}),

-- The Python assets may store NaN for a parameter they could not estimate: shown as NULL.
parameters as (
    select
        skill_id,
        item_id,
        model,
        case when isnan(cast(slope as double)) then null else cast(slope as double) end as slope,
        case
            when isnan(cast(difficulty as double)) then null else cast(difficulty as double)
        end as difficulty,
        cast(n_responses as bigint) as n_responses,
        case when isnan(cast(infit as double)) then null else cast(infit as double) end as infit,
        case
            when isnan(cast(outfit as double)) then null else cast(outfit as double)
        end as outfit,
        cast(sx2 as double) as sx2,
        cast(sx2_df as integer) as sx2_df,
        cast(sx2_p as double) as sx2_p,
        flag,
        anchored,
        run_id,
        cast(calibrated_at as timestamp) as calibrated_at
    from item_parameters
),

-- ETS class order: C (large) > B (moderate) > A (negligible); a row without a class ranks last.
dif_ranked as (
    select
        skill_id,
        item_id,
        grouping,
        focal_group,
        ets_class,
        case when isnan(cast(delta as double)) then null else cast(delta as double) end as delta,
        is_flagged,
        case ets_class when 'C' then 3 when 'B' then 2 when 'A' then 1 end as class_rank
    from item_dif
),

-- The worst row of each item: highest class, then largest |delta| (ties by grouping, group).
dif_worst as (
    select
        skill_id,
        item_id,
        ets_class as dif_worst_class,
        delta as dif_worst_delta
    from dif_ranked
    where class_rank is not null
    qualify row_number() over (
        partition by skill_id, item_id
        order by class_rank desc, abs(delta) desc nulls last, grouping, focal_group
    ) = 1
),

dif_summary as (
    select
        skill_id,
        item_id,
        {{ ordered_string_agg("grouping || '=' || focal_group", "', '", 'grouping, focal_group') }}
            filter (where is_flagged) as dif_flagged_groups,
        count(*) as dif_groups_tested
    from dif_ranked
    group by
        skill_id,
        item_id
),

drift_summary as (
    select
        skill_id,
        item_id,
        coalesce(bool_or(is_flagged), false) as is_drifting,
        min(flagged_since) as drift_flagged_since,
        {{ arg_max('cast(z as double)', 'window_start') }}
            filter (where z is not null and not isnan(z)) as drift_latest_z
    from item_drift
    group by
        skill_id,
        item_id
),

-- The landed items whose later responses became a version: from when.
first_versions as (
    select
        skill_id,
        item_id,
        min(valid_from) as first_version_from
    from item_versions
    group by
        skill_id,
        item_id
),

assessed as (
    select
        parameters.*,
        (
            coalesce(parameters.slope > 0, false)
            and (
                parameters.flag is null
                or parameters.flag not in ('{{ unscored_flags | join("', '") }}')
            )
        ) as is_scoring,
        dif_worst.dif_worst_class,
        dif_worst.dif_worst_delta,
        dif_summary.dif_flagged_groups,
        coalesce(dif_summary.dif_groups_tested, 0) as dif_groups_tested,
        coalesce(drift_summary.is_drifting, false) as is_drifting,
        drift_summary.drift_flagged_since,
        drift_summary.drift_latest_z
    from parameters
    left join dif_worst
        on parameters.skill_id = dif_worst.skill_id
        and parameters.item_id = dif_worst.item_id
    left join dif_summary
        on parameters.skill_id = dif_summary.skill_id
        and parameters.item_id = dif_summary.item_id
    left join drift_summary
        on parameters.skill_id = drift_summary.skill_id
        and parameters.item_id = drift_summary.item_id
),

final as (
    select
        assessed.skill_id,
        skills.skill_name,
        assessed.item_id,
        coalesce(versions.item_id, assessed.item_id) as landed_item_id,
        cast(coalesce(versions.version, 1) as integer) as version,
        cast(coalesce(versions.valid_to, superseded.first_version_from) as timestamp)
            as superseded_at,
        cast(coalesce(items.course_id, item_skill_assignments.course_id) as {{ text_type() }}) as course_id,
        cast(courses.title as {{ text_type() }}) as course_title,
        cast(items.item_type as {{ text_type() }}) as item_type,
        assessed.model,
        assessed.difficulty,
        assessed.slope,
        assessed.n_responses,
        assessed.infit,
        assessed.outfit,
        assessed.sx2,
        assessed.sx2_df,
        assessed.sx2_p,
        assessed.flag,
        assessed.is_scoring,
        case
            when assessed.flag = 'dif' then 'unfair'
            when assessed.flag = 'drift' then 'drifting'
            when coalesce(versions.valid_to, superseded.first_version_from) is not null
                then 'superseded'
            when not assessed.is_scoring then 'not_scored'
            when assessed.flag is not null
                or assessed.dif_worst_class in ('B', 'C')
                or assessed.is_drifting
                then 'review'
            else 'ok'
        end as health_status,
        cast(assessed.dif_worst_class as {{ text_type() }}) as dif_worst_class,
        assessed.dif_worst_delta,
        cast(assessed.dif_flagged_groups as {{ text_type() }}) as dif_flagged_groups,
        cast(assessed.dif_groups_tested as integer) as dif_groups_tested,
        assessed.is_drifting,
        cast(assessed.drift_flagged_since as timestamp) as drift_flagged_since,
        assessed.drift_latest_z,
        assessed.anchored,
        assessed.run_id,
        assessed.calibrated_at
    from assessed
    -- A version (ITM001~v2) is listed under its landed item's course.
    left join item_versions as versions
        on assessed.skill_id = versions.skill_id
        and assessed.item_id = versions.version_id
    left join first_versions as superseded
        on assessed.skill_id = superseded.skill_id
        and assessed.item_id = superseded.item_id
    left join items
        on coalesce(versions.item_id, assessed.item_id) = items.item_id
    left join item_skill_assignments
        on coalesce(versions.item_id, assessed.item_id) = item_skill_assignments.item_id
    left join courses
        on coalesce(items.course_id, item_skill_assignments.course_id) = courses.course_id
    left join skills
        on assessed.skill_id = skills.skill_id
)

select * from final
