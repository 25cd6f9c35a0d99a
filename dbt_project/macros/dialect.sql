{#- Small differences of SQL between the engines (docs/scale-out.md). Each renders exactly what
    the models held before on DuckDB. -#}

{#- The text type of casts: DuckDB's varchar; Spark requires a length for varchar. -#}
{% macro text_type() -%}
    {{ return(adapter.dispatch('text_type')()) }}
{%- endmacro %}

{% macro default__text_type() -%}varchar{%- endmacro %}

{% macro spark__text_type() -%}string{%- endmacro %}


{#- string_agg in a given order. -#}
{% macro ordered_string_agg(expression, separator, order_by) -%}
    {{ return(adapter.dispatch('ordered_string_agg')(expression, separator, order_by)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(expression, separator, order_by) -%}
string_agg({{ expression }}, {{ separator }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__ordered_string_agg(expression, separator, order_by) -%}
string_agg({{ expression }}, {{ separator }}) within group (order by {{ order_by }})
{%- endmacro %}


{#- The value of `value` at the largest `by` (ties: any). -#}
{% macro arg_max(value, by) -%}
    {{ return(adapter.dispatch('arg_max')(value, by)) }}
{%- endmacro %}

{% macro default__arg_max(value, by) -%}
arg_max({{ value }}, {{ by }})
{%- endmacro %}

{% macro spark__arg_max(value, by) -%}
max_by({{ value }}, {{ by }})
{%- endmacro %}


{#- The value of `value` at the smallest of the `by` expressions (a list, compared in order),
    NULL when that row's value is NULL (DuckDB's arg_min would skip the row; Spark's min_by
    keeps it). Ties: any. -#}
{% macro arg_min_keeping_nulls(value, by) -%}
    {{ return(adapter.dispatch('arg_min_keeping_nulls')(value, by)) }}
{%- endmacro %}

{% macro default__arg_min_keeping_nulls(value, by) -%}
arg_min_null({{ value }}, ({{ by | join(', ') }}))
{%- endmacro %}

{% macro spark__arg_min_keeping_nulls(value, by) -%}
min_by({{ value }}, struct({{ by | join(', ') }}))
{%- endmacro %}


{#- Rows stored in this order, so that a query for one value of the first column reads only
    its row groups (DuckDB skips the others by their min/max). At M the IRT stage reads
    int_irt_responses one skill at a time some 60 times a run: a skill's response signatures
    and responses 2.9 s -> 0.8 s for three skills once ordered. Spark reads the responses
    whole on its executors: no sort there. -#}
{% macro clustered_by(columns) -%}
    {{ return(adapter.dispatch('clustered_by')(columns)) }}
{%- endmacro %}

{% macro default__clustered_by(columns) -%}
order by {{ columns | join(', ') }}
{%- endmacro %}

{% macro spark__clustered_by(columns) -%}{%- endmacro %}
