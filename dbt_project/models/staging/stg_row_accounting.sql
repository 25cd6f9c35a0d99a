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
] -%}

with

{% for entity in entities %}
counts_{{ entity }} as (
    select
        '{{ entity }}' as entity,
        (select count(*) from {{ source('raw', entity) }}) as n_landed,
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
per_entity as (
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
