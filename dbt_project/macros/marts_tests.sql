{#- Grain test: a returned row is a combination of the columns that occurs more than once.
    NULLs compare equal (company-scope skill_gaps rows have job_role NULL). -#}
{% test marts_unique_combination(model, columns) %}
    select
        {{ columns | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
