{#- Every landed enrollment version: the enrollments files' rows and the versions statements
    make (stg_statement_enrollments), in the shape of raw.enrollments. -#}
{{ config(materialized='view') }}

select
    learner_id,
    course_id,
    enrolled_at,
    completed_at,
    grade,
    _load_id,
    _source_file,
    _row_number,
    false as is_voided,
    _load_id as _touched_load_id
from {{ source('raw', 'enrollments') }}
union all
select * from {{ ref('stg_statement_enrollments') }}
