{#-
    Every landed statement parsed once: what each xAPI statement or Caliper event says, in
    columns, and whether it is valid on its own. Only decisions that depend on the statement
    alone are made here (so the model appends the rows of new loads and never re-reads old
    ones); duplicates, voiding and matching to the catalog are stg_statements_landed's.
    docs/landing-contract.md (statements) documents every rule.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
) }}

{%- set paths = {
    'id': '$.id',
    'stored': '$.stored',
    'timestamp': '$.timestamp',
    'actor': '$.actor',
    'actor_type': '$.actor.objectType',
    'actor_mbox': '$.actor.mbox',
    'actor_sha1': '$.actor.mbox_sha1sum',
    'actor_openid': '$.actor.openid',
    'actor_home': '$.actor.account.homePage',
    'actor_name': '$.actor.account.name',
    'verb_id': '$.verb.id',
    'verb': '$.verb',
    'object': '$.object',
    'object_type': '$.object.objectType',
    'object_id': '$.object.id',
    'activity_type': '$.object.definition.type',
    'result': '$.result',
    'raw': '$.result.score.raw',
    'min': '$.result.score.min',
    'max': '$.result.score.max',
    'scaled': '$.result.score.scaled',
    'success': '$.result.success',
    'classification': '$.result.extensions."http://www.tincanapi.co.uk/activitytypes/grade_classification"',
    'attempt_object': '$.object.definition.extensions."http://id.tincanapi.com/extension/attempt-id"',
    'attempt_context': '$.context.extensions."http://id.tincanapi.com/extension/attempt-id"',
    'context_statement': '$.context.statement.id',
    'caliper_context': '$."@context"',
    'caliper_type': '$.type',
    'caliper_action': '$.action',
    'caliper_time': '$.eventTime',
    'caliper_actor': '$.actor.id',
    'caliper_assignee': '$.object.assignee.id',
    'caliper_assignable': '$.object.assignable.id',
    'caliper_object_type': '$.object.type',
    'caliper_course': '$.object.extensions.isPartOf.id',
    'caliper_part_of': '$.object.isPartOf.id',
    'caliper_group': '$.group.id',
    'caliper_count': '$.object.count',
    'caliper_score': '$.generated.scoreGiven',
    'caliper_max': '$.generated.maxScore',
} -%}
{#- Course activities may sit at any position of parent or grouping (Moodle puts the course
    last of 3-5 parents); the first 10 of each are searched, parent first. -#}
{%- set course_slots = [] -%}
{%- for list in ['parent', 'grouping'] -%}
    {%- for i in range(10) -%}
        {%- do course_slots.append(list ~ i) -%}
        {%- do paths.update({
            list ~ i ~ '_id': '$.context.contextActivities.' ~ list ~ '[' ~ i ~ '].id',
            list ~ i ~ '_type': '$.context.contextActivities.' ~ list ~ '[' ~ i ~ '].definition.type',
        }) -%}
    {%- endfor -%}
{%- endfor -%}
{%- set names = paths.keys() | list -%}
{%- set course_types = [
    'http://adlnet.gov/expapi/activities/course',
    'https://w3id.org/xapi/cmi5/activitytype/course',
] -%}

with

landed as (
    select *
    from {{ source('raw', 'statements') }}
    {% if is_incremental() %}
    where _load_id > (select coalesce(max(load_id), -1) from {{ this }})
    {% endif %}
),

extracted as (
    select
        landed.*,
        {{ is_json('statement') }} as is_json,
        -- Valid JSON is kept minified, so an object starts with '{'; trim (Unicode blanks,
        -- a sixth of this model's time) only for other text.
        case when {{ is_json('statement') }} and (
            substr(statement, 1, 1) = '{' or substr(trim(statement), 1, 1) = '{'
        ) then
            {{ json_texts('statement', paths.values() | list) }}
        end as parts
    from landed
),

columns as (
    select
        extracted.*,
        {% for name in names -%}
        {{ list_at('parts', loop.index) }} as j_{{ name }}{{ "," if not loop.last }}
        {% endfor %}
    from extracted
),

fields as (
    select
        statement_id,
        stored as stored_text,
        statement,
        source,
        _load_id as load_id,
        _source_file as source_file,
        _row_number as row_number,
        is_json,
        parts is not null as is_object,
        -- Caliper: an event with a Caliper @context, or a type and an action and no verb.
        coalesce(j_caliper_context like '%caliper%', false)
            or (j_caliper_type is not null and j_caliper_action is not null
                and j_verb is null) as is_caliper,
        {% for name in names -%}
        j_{{ name }},
        {% endfor -%}
        coalesce(
            {%- for slot in course_slots %}
            case when j_{{ slot }}_type in {{ text_list(course_types) }}
                then j_{{ slot }}_id end{{ ", " if not loop.last }}
            {%- endfor %}
        ) as context_course_iri
    from columns
),

normalised as (
    select
        fields.*,
        case when is_caliper
            then 'caliper:' || j_caliper_type || ':' || j_caliper_action
            else j_verb_id
        end as verb_id,
        case
            when is_caliper and j_caliper_type = 'GradeEvent' then j_caliper_assignee
            when is_caliper then j_caliper_actor
        end as caliper_person,
        case
            when is_caliper then j_caliper_object_type
            else coalesce(j_object_type, case when j_object is not null then 'Activity' end)
        end as object_type,
        case
            when is_caliper and j_caliper_type = 'GradeEvent' then j_caliper_assignable
            else j_object_id
        end as object_iri,
        case when is_caliper then j_caliper_object_type else j_activity_type end
            as activity_type,
        case when is_caliper then j_caliper_time else coalesce(j_timestamp, j_stored) end
            as timestamp_text,
        {{ parse_number('j_raw') }} as score_raw,
        {{ parse_number('j_min') }} as score_min,
        {{ parse_number('j_max') }} as score_max,
        {{ parse_number('j_scaled') }} as score_scaled,
        case lower(j_success) when 'true' then true when 'false' then false end as success,
        {{ parse_number('j_caliper_score') }} as caliper_score,
        {{ parse_number('j_caliper_max') }} as caliper_max,
        coalesce(j_attempt_object, j_attempt_context, j_caliper_count) as attempt_text
    from fields
),

typed as (
    select
        normalised.*,
        {{ parse_utc_timestamp('timestamp_text') }} as event_at,
        {{ parse_utc_timestamp('stored_text') }} as stored_at,
        case
            when is_caliper and caliper_person is not null then 'caliper:' || caliper_person
            when j_actor_home is not null and j_actor_name is not null
                then 'account:' || j_actor_home || '::' || j_actor_name
            when j_actor_mbox is not null then 'mbox:' || j_actor_mbox
            when j_actor_sha1 is not null then 'mbox_sha1sum:' || lower(j_actor_sha1)
            when j_actor_openid is not null then 'openid:' || j_actor_openid
        end as actor_ifi,
        -- Without a learner_identities row: an account's name, a Caliper person's last segment.
        case
            when is_caliper then {{ iri_last_segment('caliper_person') }}
            else j_actor_name
        end as default_learner_id,
        case
            when is_caliper then coalesce(j_caliper_course, j_caliper_part_of, j_caliper_group)
            else context_course_iri
        end as context_course,
        case
            when verb_id = 'http://adlnet.gov/expapi/verbs/voided'
                and object_type = 'StatementRef'
                then object_iri
        end as voided_statement_id,
        j_context_statement as parent_statement_id
    from normalised
),

checked as (
    select
        typed.*,
        case
            when not is_json then 'invalid_json'
            when not is_object then 'not_a_statement'
            when statement_id = ''
                or not {{ regexp_like(
                    'lower(statement_id)',
                    '^(urn:uuid:)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                ) }}
                then 'invalid_id'
            when (is_caliper and caliper_person is null) or (not is_caliper and j_actor is null)
                then 'missing_actor'
            when verb_id is null then 'missing_verb'
            -- An object without an id names nothing (Open edX sends such problem checks).
            when object_iri is null then 'missing_object'
            when actor_ifi is null
                or (j_actor_mbox is not null and not {{ regexp_like('j_actor_mbox', '^mailto:[^@ ]+@[^@ ]+$') }})
                then 'invalid_actor'
            when not is_caliper and object_type not in (
                'Activity', 'Agent', 'Group', 'StatementRef', 'SubStatement',
                -- Open edX's multi-part problems: not valid xAPI, but what that producer sends.
                'GroupActivity'
            ) then 'invalid_object_type'
            -- Caliper: the actions the specification allows for each event type.
            when is_caliper and (
                (j_caliper_type = 'GradeEvent' and j_caliper_action <> 'Graded')
                or (j_caliper_type = 'AssessmentItemEvent'
                    and j_caliper_action not in ('Started', 'Skipped', 'Completed'))
            ) then 'invalid_action'
            -- No timestamp takes stored; neither, or text that is not ISO 8601, is bad. A
            -- voiding statement needs no time: it acts on its target whenever either landed.
            when event_at is null and voided_statement_id is null then 'bad_timestamp'
        end as reject_reason
    from typed
),

final as (
    select
        statement_id,
        stored_text,
        stored_at,
        source,
        load_id,
        source_file,
        row_number,
        is_caliper,
        verb_id,
        actor_ifi,
        default_learner_id,
        object_type,
        object_iri,
        activity_type,
        context_course,
        timestamp_text,
        event_at,
        case when is_caliper then caliper_score else score_raw end as score_raw,
        case when is_caliper then 0 else score_min end as score_min,
        case when is_caliper then caliper_max else score_max end as score_max,
        score_scaled,
        success,
        j_result is not null or caliper_score is not null as has_result,
        j_classification as grade_classification,
        {{ parse_integer('attempt_text') }} as attempt_number,
        voided_statement_id,
        parent_statement_id,
        -- A statement with no member stored, authority or version anywhere hashes as it is,
        -- which is what statement_content_hash gives it, without re-parsing it (a fifth of
        -- this model's time on files, which an LRS has not stamped).
        case
            when not is_object then null
            when not {{ regexp_like('statement', '"(stored|authority|version)":') }}
                then md5(statement)
            else {{ statement_content_hash('statement') }}
        end as content_hash,
        reject_reason
    from checked
)

select * from final
