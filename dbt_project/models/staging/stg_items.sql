with

items as (select * from {{ ref('stg_items_landed') }}),

final as (
    select
        item_id,
        course_id,
        max_score,
        item_type,
        skill_id,
        source_file,
        load_id
    from items
    where row_status = 'cleaned'
)

select * from final
