with

items as (select * from {{ ref('stg_items_landed') }}),

final as (
    select
        landed_item_id as item_id,
        landed_course_id as course_id,
        landed_max_score as max_score,
        landed_item_type as item_type,
        landed_skill_id as skill_id,
        reject_reason,
        source_file,
        load_id,
        row_number
    from items
    where row_status = 'rejected'
)

select * from final
