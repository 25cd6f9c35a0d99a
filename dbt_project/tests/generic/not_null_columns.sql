{#- The columns of a model that must never be NULL, in one test and one scan of the model.
    One not_null test per column read the model once per column: at 192 columns that was 192
    queries a build, each a job of its own on Spark (issue 24). Returns one row, the NULL count
    of every listed column, when any of them has a NULL (store it with --store-failures, or
    run the compiled query, to see which); no row when none has. -#}
{% test not_null_columns(model, columns) %}

select *
from (
    select
    {%- for column in columns %}
        sum(case when {{ column }} is null then 1 else 0 end) as {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
    from {{ model }}
) null_counts
where
{%- for column in columns %}
    {{ 'or ' if not loop.first }}{{ column }} > 0
{%- endfor %}

{% endtest %}
