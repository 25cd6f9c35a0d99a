{#-
    Parsing of landed text (every raw column is VARCHAR). The DuckDB-specific parts are
    dispatched, so another adapter only needs its own <adapter>__ versions.
-#}

{#- Empty means NULL or only blanks, for every landed column. -#}
{% macro clean_text(expr) -%}
    nullif(trim({{ expr }}), '')
{%- endmacro %}


{#-
    ISO 8601 text to a TIMESTAMP in UTC. With an offset ('+02:00', '+0200', '+02', 'Z') the
    instant is converted to UTC; without one the wall clock is taken as UTC. NULL when the text
    is not a timestamp. DuckDB's plain cast to TIMESTAMP silently drops an offset
    ('10:00+02' -> 10:00), so offset text goes through TIMESTAMPTZ; the result does not depend on
    the session TimeZone (2026-11).
-#}
{% macro parse_utc_timestamp(expr) -%}
    {{ return(adapter.dispatch('parse_utc_timestamp')(expr)) }}
{%- endmacro %}

{% macro default__parse_utc_timestamp(expr) -%}
    {{ dbt.safe_cast(clean_text(expr), api.Column.translate_type('timestamp')) }}
{%- endmacro %}

{% macro duckdb__parse_utc_timestamp(expr) -%}
    case
        when regexp_matches(
            upper(trim({{ expr }})),
            '\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$'
        )
            then timezone('UTC', try_cast(upper(trim({{ expr }})) as timestamptz))
        else try_cast(upper(trim({{ expr }})) as timestamp)
    end
{%- endmacro %}


{#-
    Spark: the session time zone is UTC (orchestration/spark/session.py), and Spark's cast of
    ISO text converts an offset ('Z', '+02:00', '+0200', '+02') to that zone; without one the
    wall clock is UTC. try_cast gives NULL for text that is not a timestamp, ANSI mode or not.
-#}
{% macro spark__parse_utc_timestamp(expr) -%}
    try_cast(upper(trim({{ expr }})) as timestamp)
{%- endmacro %}


{#- Text to a finite DOUBLE; NULL for anything else ('abc', 'inf', 'nan'). -#}
{% macro parse_number(expr) -%}
    {{ return(adapter.dispatch('parse_number')(expr)) }}
{%- endmacro %}

{% macro default__parse_number(expr) -%}
    {{ dbt.safe_cast(clean_text(expr), api.Column.translate_type('float')) }}
{%- endmacro %}

{% macro duckdb__parse_number(expr) -%}
    case
        when isfinite(try_cast(trim({{ expr }}) as double))
            then try_cast(trim({{ expr }}) as double)
    end
{%- endmacro %}


{#- Spark reads 'inf' and 'NaN' as doubles too; NaN compares above infinity. -#}
{% macro spark__parse_number(expr) -%}
    case
        when abs(try_cast(trim({{ expr }}) as double)) < double('Infinity')
            then try_cast(trim({{ expr }}) as double)
    end
{%- endmacro %}


{#-
    Text to an integer; NULL unless the number is whole ('12' and '12.0' parse, '12.5' does not:
    DuckDB's own cast to BIGINT would round it to 13).
-#}
{% macro parse_integer(expr) -%}
    case
        when {{ parse_number(expr) }} = floor({{ parse_number(expr) }})
            then cast({{ parse_number(expr) }} as bigint)
    end
{%- endmacro %}


{#-
    The run's start as a UTC TIMESTAMP: "the run's current time" of the future_timestamp rule,
    the same instant in every model of one dbt invocation.
-#}
{% macro utc_run_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
{%- endmacro %}
