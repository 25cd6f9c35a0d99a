{#- Continuous median, as an aggregate (optionally followed by an over clause). DuckDB has no
    percentile_cont ordered-set aggregate but a median() that also works as a window function. -#}
{% macro marts_median(expression) -%}
    {{ return(adapter.dispatch('marts_median')(expression)) }}
{%- endmacro %}

{% macro default__marts_median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__marts_median(expression) -%}
    median({{ expression }})
{%- endmacro %}
