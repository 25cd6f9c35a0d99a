{#-
    Every landed statement and what it became (docs/landing-contract.md, statements): an
    attempt, an enrollment event, a course decision (pass or fail), a voiding statement, or
    rejected with a reason, an exact duplicate, a conflict, voided, or ignored by a rule.
    Built from stg_statements_parsed (narrow typed columns).

    Incremental on DuckDB (issue 24: a day costs what it brought), replacing rows by
    (load_id, row_number). A statement's verdict depends on rows of other loads in three ways
    only, and a refresh re-decides exactly the statements those can change:
    - its copies: the first stored copy of an id stays; a later load only adds later copies,
      which never change an earlier copy's verdict, so only the new rows are ranked (against
      every copy of their id);
    - voiding: a voiding statement of a new load re-decides every copy of its target, whenever
      the target landed (a target landing after its voiding statement is a new row);
    - its learner: an identity landed since (learner_identities, upsert by actor) re-decides
      every statement of that actor.
    A change of the statement rules (the dbt vars) needs `--full-refresh`, which rebuilds from
    every parsed statement and gives the same table. Spark rebuilds it whole every run.
-#}
{{ config(
    materialized='table' if attempt_chain_by_bucket() else 'incremental',
    incremental_strategy='delete+insert',
    unique_key=['load_id', 'row_number'],
    on_schema_change='append_new_columns',
) }}

{%- set course_types = [
    'http://adlnet.gov/expapi/activities/course',
    'https://w3id.org/xapi/cmi5/activitytype/course',
    'CourseOffering',
] %}
-- depends_on: {{ ref('stg_learner_identities_landed') }}
{#- The parsed statements are read where each step needs them, never through one CTE: DuckDB
    materializes a CTE read more than once, all columns of every statement (at M 4 GB that
    spilled under the memory limit, and made a day's run 4 times slower). -#}
{%- set parsed = ref('stg_statements_parsed') %}
with

identities as (select * from {{ ref('stg_learner_identities') }}),

{% if is_incremental() %}
processed as (
    select coalesce(max(load_id), -1) as max_load_id from {{ this }}
),

-- The statements this run decides: those of new loads, every copy of a statement that a new
-- voiding statement names, and every statement of an actor whose identity landed since.
redecided as (
    select *
    from {{ parsed }}
    where load_id > (select max_load_id from processed)
        or statement_id in (
            select voided_statement_id
            from {{ parsed }}
            where load_id > (select max_load_id from processed)
                and voided_statement_id is not null
                and reject_reason is null
        )
        or actor_ifi in (
            select actor_ifi
            from {{ ref('stg_learner_identities_landed') }}
            where load_id > (select max_load_id from processed)
        )
),

-- What deciding them reads: every copy of their ids (to rank them) and of the ids of the
-- statements that void them (only a voiding statement's first copy voids).
related as (
    select *
    from {{ parsed }}
    where statement_id in (select statement_id from redecided)
        or statement_id in (
            select statement_id
            from {{ parsed }}
            where voided_statement_id in (select statement_id from redecided)
        )
),
{%- set redecided, related = 'redecided', 'related' %}
{% else %}
{%- set redecided, related = parsed, parsed %}
{% endif %}

-- The copy of a statement id loaded first stays; a later copy is a duplicate when its content
-- (without what an LRS adds) is the same, a conflict otherwise.
copies as (
    select
        load_id,
        row_number,
        row_number() over (
            partition by statement_id order by load_id, row_number
        ) as copy_rank,
        first_value(content_hash) over (
            partition by statement_id order by load_id, row_number
        ) as first_content_hash
    from {{ related }}
    where reject_reason is null
),

-- A voiding statement (verb voided, object a StatementRef) takes back its target, whenever
-- either of them landed.
voids as (
    select
        related.voided_statement_id as statement_id,
        min(related.load_id) as voided_in_load
    from {{ related }} as related
    inner join copies
        on related.load_id = copies.load_id and related.row_number = copies.row_number
    where copies.copy_rank = 1 and related.voided_statement_id is not null
    group by related.voided_statement_id
),

classified as (
    select
        parsed.*,
        copies.copy_rank,
        copies.first_content_hash,
        voids.voided_in_load,
        identities.load_id as identity_load_id,
        coalesce(identities.learner_id, parsed.default_learner_id) as learner_id,
        {{ activity_catalog_id('parsed.object_iri') }} as activity_id,
        {{ activity_catalog_id('parsed.context_course') }} as context_course_id,
        coalesce(parsed.activity_type in {{ text_list(course_types) }}, false)
            as object_is_course,
        case
            when parsed.voided_statement_id is not null then 'void'
            when parsed.verb_id in {{ text_list(var('statement_attempt_verbs')) }}
                or parsed.verb_id in (
                    'caliper:GradeEvent:Graded', 'caliper:AssessmentItemEvent:Completed'
                )
                then 'attempt'
            when parsed.verb_id in {{ text_list(var('statement_enrollment_verbs')) }}
                or parsed.verb_id = 'caliper:Event:Activated'
                then 'enrollment'
            when parsed.verb_id in {{ text_list(var('statement_unenrollment_verbs')) }}
                or parsed.verb_id = 'caliper:Event:Deactivated'
                then 'unenrollment'
            when parsed.verb_id in {{ text_list(var('statement_pass_verbs')) }}
                or parsed.verb_id = 'caliper:Event:Completed'
                or (parsed.verb_id = 'http://id.tincanapi.com/verb/earned'
                    and lower(parsed.grade_classification) = 'pass')
                then 'pass'
            when parsed.verb_id in {{ text_list(var('statement_fail_verbs')) }}
                or (parsed.verb_id = 'http://id.tincanapi.com/verb/earned'
                    and lower(parsed.grade_classification) = 'fail')
                then 'fail'
        end as kind,
        -- The share of the maximum: raw, min and max when given (scaled is not a fraction
        -- everywhere: recent Moodle writes 2 * share - 1), else success as 1 or 0.
        case
            when parsed.score_raw is not null and parsed.score_max > coalesce(parsed.score_min, 0)
                then (parsed.score_raw - coalesce(parsed.score_min, 0))
                    / (parsed.score_max - coalesce(parsed.score_min, 0))
            when parsed.success is not null then case when parsed.success then 1.0 else 0.0 end
        end as score_fraction
    from {{ redecided }} as parsed
    left join copies
        on parsed.load_id = copies.load_id and parsed.row_number = copies.row_number
    left join voids on parsed.statement_id = voids.statement_id
    left join identities on parsed.actor_ifi = identities.actor_ifi
),

decided as (
    select
        classified.*,
        case
            when reject_reason is not null or copy_rank > 1 or kind = 'void' then null
            when kind is null then 'verb_not_used'
            when kind in ('enrollment', 'unenrollment', 'pass', 'fail') and not object_is_course
                then 'not_a_course'
            -- One submit counts once: a multi-part problem's parts point back to the scored
            -- parent through context.statement; the parent is the attempt.
            when kind = 'attempt' and parent_statement_id is not null then 'part_of_submission'
            when kind = 'attempt' and not has_result then 'no_result'
            when kind = 'attempt' and score_raw is not null and score_max is not null
                and score_max = coalesce(score_min, 0)
                then 'ungraded'
        end as ignore_reason
    from classified
),

final as (
    select
        statement_id,
        stored_at,
        source,
        load_id,
        source_file,
        row_number,
        is_caliper,
        verb_id,
        kind,
        actor_ifi,
        learner_id,
        identity_load_id,
        activity_id,
        activity_type,
        case when object_is_course then activity_id else context_course_id end as course_id,
        event_at,
        score_raw,
        score_min,
        score_max,
        score_scaled,
        score_fraction,
        attempt_number,
        voided_statement_id,
        voided_in_load,
        case
            when reject_reason is not null then reject_reason
            when copy_rank > 1 and content_hash <> first_content_hash then 'conflicting_duplicate'
            when copy_rank = 1 and ignore_reason is null and kind = 'attempt'
                and score_fraction is null
                then 'missing_value'
        end as reject_reason,
        ignore_reason,
        case
            when reject_reason is not null then 'rejected'
            when copy_rank > 1 and content_hash = first_content_hash then 'exact_duplicate'
            when copy_rank > 1 then 'conflict'
            when kind = 'void' then 'voids'
            when voided_in_load is not null then 'voided'
            when ignore_reason is not null then 'ignored'
            when kind = 'attempt' and score_fraction is null then 'rejected'
            else kind
        end as outcome,
        {{ utc_run_started_at() }} as processed_at
    from decided
)

select * from final
