with

identities as (select * from {{ ref('stg_learner_identities_landed') }}),

final as (
    select
        landed_learner_id as learner_id,
        landed_actor_ifi as actor_ifi,
        reject_reason,
        source_file,
        load_id,
        row_number
    from identities
    where row_status = 'rejected'
)

select * from final
