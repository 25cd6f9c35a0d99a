{#- Every landed item row: the items files' rows and the items only statements name
    (stg_statement_items), in the shape of raw.items. -#}
{{ config(materialized='view') }}

select item_id, course_id, max_score, item_type, skill_id, _load_id, _source_file, _row_number
from {{ source('raw', 'items') }}
union all
select * from {{ ref('stg_statement_items') }}
