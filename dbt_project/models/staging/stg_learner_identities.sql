with

identities as (select * from {{ ref('stg_learner_identities_landed') }}),

final as (
    select
        actor_ifi,
        learner_id,
        source_file,
        load_id
    from identities
    where row_status = 'cleaned'
)

select * from final
