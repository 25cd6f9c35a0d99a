{#- Grain test: returns each combination of the given columns that occurs on more than one row.
    `group by` puts NULLs in one group, so NULLs compare equal: two company-scope skill_gaps rows
    (job_role NULL) of one company and skill are a duplicate. -#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(',\n    ') }},
    count(*) as n_rows
from {{ model }}
group by
    {{ columns | join(',\n    ') }}
having count(*) > 1

{% endtest %}
