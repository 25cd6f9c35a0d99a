{#- Returns each combination of the given columns that occurs on more than one row. -#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(',\n    ') }},
    count(*) as n_rows
from {{ model }}
group by
    {{ columns | join(',\n    ') }}
having count(*) > 1

{% endtest %}
