{#-
    Which rows a data test reads (issue 24). The attempt chain is incremental: a daily run
    decides only the rows of its new loads and the rows it reopens, and stamps them with the
    run's start. With the var data_tests_scope = 'run' (the default) the data tests of those
    models read only the rows stamped by this run, so a day's tests cost what the day brought;
    with 'all' (the weekly schedule weekly_full_checks, and `make test`'s dbt tests) they read
    the whole table. A first or --full-refresh run stamps every row, so it tests every row.

    A test's own `where` config still applies, combined with the scope. dbt wraps every
    generic test's model in get_where_subquery; this overrides dbt's default implementation.
-#}
{% macro run_scoped_columns() -%}
    {#- model name -> the column that holds the start of the run that last decided the row -#}
    {% do return({
        'stg_attempts_landed': 'processed_at',
        'stg_statements_landed': 'processed_at',
        'stg_attempts': 'landed_processed_at',
        'int_attempts_scored': 'landed_processed_at',
    }) %}
{%- endmacro %}

{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set scoped = run_scoped_columns().get(relation.identifier) -%}
    {%- if scoped and var('data_tests_scope') == 'run' -%}
        {%- do conditions.append(scoped ~ ' >= ' ~ utc_run_started_at()) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
