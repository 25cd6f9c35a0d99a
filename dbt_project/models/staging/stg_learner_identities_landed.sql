{#- An xAPI actor's learner (docs/landing-contract.md, learner_identities): upsert by
    actor_ifi, the last loaded version wins. The learner need not have landed yet: a statement
    of an actor mapped to a learner still unknown is unknown_learner in the attempt chain. -#}
with

landed as (select * from {{ source('raw', 'learner_identities') }}),

typed as (
    select
        learner_id as landed_learner_id,
        actor_ifi as landed_actor_ifi,
        {{ clean_text('learner_id') }} as learner_id,
        {{ clean_text('actor_ifi') }} as actor_ifi,
        _source_file as source_file,
        _load_id as load_id,
        _row_number as row_number
    from landed
),

checked as (
    select
        typed.*,
        case
            when actor_ifi is null then 'missing_key'
            when learner_id is null then 'missing_value'
            when not (
                actor_ifi like 'account:%::%'
                or actor_ifi like 'mbox:mailto:%@%'
                or actor_ifi like 'mbox_sha1sum:%'
                or actor_ifi like 'openid:%'
                or actor_ifi like 'caliper:%'
            ) then 'invalid_value'
        end as reject_reason
    from typed
),

ranked as (
    {{ upsert_ranks('checked', ['actor_ifi'], ['learner_id']) }}
),

final as (
    select
        checked.landed_learner_id,
        checked.landed_actor_ifi,
        checked.learner_id,
        checked.actor_ifi,
        checked.source_file,
        checked.load_id,
        checked.row_number,
        checked.reject_reason,
        {{ upsert_row_status('checked', 'ranked') }} as row_status
    from checked
    left join ranked
        on checked.load_id = ranked.load_id
        and checked.row_number = ranked.row_number
)

select * from final
