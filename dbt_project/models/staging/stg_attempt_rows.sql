{#- Every landed attempt row: the attempts files' rows and the attempts statements make
    (stg_statement_attempts), in the shape of raw.attempts. The attempt chain reads this. -#}
{{ config(materialized='view') }}

select
    attempt_id,
    learner_id,
    item_id,
    submitted_at,
    score,
    attempt_number,
    _load_id,
    _source_file,
    _row_number,
    false as is_voided,
    _load_id as _touched_load_id
from {{ source('raw', 'attempts') }}
union all
select * from {{ ref('stg_statement_attempts') }}
