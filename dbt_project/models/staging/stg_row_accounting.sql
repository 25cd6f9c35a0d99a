{#-
    Every landed row ends in exactly one place. The counts come from raw and from the tables
    readers use (not from one classification column), so the invariant test
    assert_every_landed_row_accounted_for checks that nothing was lost or counted twice.
-#}
{%- set entities = [
    'skills',
    'companies',
    'learners',
    'courses',
    'course_skills',
    'items',
    'attempts',
    'enrollments',
    'learner_identities',
] -%}
{#- Attempts, enrollments and items count the rows statements make as landed rows too. -#}
{%- set landed_rows = {
    'attempts': ref('stg_attempt_rows'),
    'enrollments': ref('stg_enrollment_rows'),
    'items': ref('stg_item_rows'),
} -%}

with

{% for entity in entities %}
counts_{{ entity }} as (
    select
        '{{ entity }}' as entity,
        (select count(*) from {{ landed_rows.get(entity, source('raw', entity)) }}) as n_landed,
        (
            select count(*) from {{ ref('stg_' ~ entity) }}
            {%- if entity == 'skills' %} where source = 'landed'{% endif %}
        ) as n_cleaned,
        (
            select count(*) from {{ ref('stg_' ~ entity ~ '_landed') }}
            where row_status = 'superseded'
        ) as n_superseded,
        (select count(*) from {{ ref('stg_' ~ entity ~ '_rejected') }}) as n_rejected,
        (
            select count(*) from {{ ref('stg_' ~ entity ~ '_landed') }}
            where row_status = 'exact_duplicate'
        ) as n_exact_duplicates
),

{% endfor %}
{#- A statement is cleaned when it is kept with an outcome (an attempt, an enrollment event,
    a decision, a voiding statement, voided, or ignored by a rule), rejected when it failed
    validation or conflicts with the first copy of its id. -#}
counts_statements as (
    select
        'statements' as entity,
        (select count(*) from {{ source('raw', 'statements') }}) as n_landed,
        count(case when outcome not in ('rejected', 'conflict', 'exact_duplicate') then 1 end)
            as n_cleaned,
        0 as n_superseded,
        count(case when outcome in ('rejected', 'conflict') then 1 end) as n_rejected,
        count(case when outcome = 'exact_duplicate' then 1 end) as n_exact_duplicates
    from {{ ref('stg_statements_landed') }}
),

per_entity as (
    select * from counts_statements
    union all
    {%- for entity in entities %}
    select * from counts_{{ entity }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select
        entity,
        cast(n_landed as bigint) as n_landed,
        cast(n_cleaned as bigint) as n_cleaned,
        cast(n_superseded as bigint) as n_superseded,
        cast(n_rejected as bigint) as n_rejected,
        cast(n_exact_duplicates as bigint) as n_exact_duplicates
    from per_entity
)

select * from final
