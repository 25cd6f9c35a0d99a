{#- Items that only statements name, in the shape of raw.items, for stg_item_rows: one row per
    activity of an attempt statement that no landed items file lists. Its course is the
    statement's course activity, its max_score the statement's score range (1 for a
    success-only statement), both from the item's latest statement (a problem edited from 3 to
    4 points is out of 4); its kind is an assignment when the activity type says assessment,
    else by max_score (quiz when 1). Its skill is decided from the data like any untagged item.
-#}
{{ config(materialized='view') }}

with

statements as (select * from {{ ref('stg_statements_landed') }}),

catalog_items as (
    select distinct {{ clean_text('item_id') }} as item_id
    from {{ source('raw', 'items') }}
),

latest as (
    select
        statements.*,
        row_number() over (
            partition by statements.activity_id
            order by statements.event_at desc, statements.load_id desc, statements.row_number desc
        ) as recency
    from statements
    where statements.outcome = 'attempt'
        and statements.activity_id not in (
            select item_id from catalog_items where item_id is not null
        )
),

final as (
    select
        activity_id as item_id,
        course_id,
        {{ number_text(
            "case when score_raw is not null and score_max > coalesce(score_min, 0)"
            ~ " then score_max - coalesce(score_min, 0) else 1 end"
        ) }} as max_score,
        case
            when lower(activity_type) like '%assessment%' or lower(activity_type) like '%assignment%'
                then 'assignment'
        end as item_type,
        cast(null as {{ text_type() }}) as skill_id,
        load_id as _load_id,
        source_file as _source_file,
        row_number as _row_number
    from latest
    where recency = 1
)

select * from final
