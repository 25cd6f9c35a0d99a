{#- Reading xAPI statements and Caliper events (raw.statements.statement, JSON text), per engine.
    docs/landing-contract.md (statements) has the rules these serve. -#}

{#- Many JSONPath values of one JSON text at once, as a list of text (NULL where absent).
    DuckDB parses the document once for the whole list; Spark once per path. Paths are written
    as DuckDB reads them; a key with '/' or ':' is quoted: $.a."http://x/y". -#}
{% macro json_texts(expr, paths) -%}
    {{ return(adapter.dispatch('json_texts')(expr, paths)) }}
{%- endmacro %}

{% macro default__json_texts(expr, paths) -%}
    json_extract_string({{ expr }}, [
        {%- for path in paths %}'{{ path }}'{{ ", " if not loop.last }}{% endfor -%}
    ])
{%- endmacro %}

{% macro spark__json_texts(expr, paths) -%}
    array(
        {%- for path in paths -%}
        get_json_object({{ expr }}, '{{ path | replace('."', "[\\'") | replace('"', "\\']") }}')
        {{- ", " if not loop.last }}
        {%- endfor -%}
    )
{%- endmacro %}


{#- Element i (1-based) of a list. -#}
{% macro list_at(list, i) -%}
    {{ return(adapter.dispatch('list_at')(list, i)) }}
{%- endmacro %}

{% macro default__list_at(list, i) -%}{{ list }}[{{ i }}]{%- endmacro %}

{% macro spark__list_at(list, i) -%}element_at({{ list }}, {{ i }}){%- endmacro %}


{#- True when the text is valid JSON. -#}
{% macro is_json(expr) -%}
    {{ return(adapter.dispatch('is_json')(expr)) }}
{%- endmacro %}

{% macro default__is_json(expr) -%}coalesce(json_valid({{ expr }}), false){%- endmacro %}

{#- Spark's Jackson (get_json_object) reads the first value and ignores what follows, and
    accepts single-quoted strings, raw control characters in strings and lone surrogate
    escapes, all of which DuckDB's json_valid rejects: [text,0] must parse to two elements
    ending in 0 (and [text,1] end in 1 when the text holds ',0]'), and the rest is checked as
    the Spark loader checks it (orchestration/ingest/spark_statements.py, duckdb_valid). -#}
{% macro spark__is_json(expr) -%}
    {%- set w -%}get_json_object(concat('[', {{ expr }}, ',0]'), '$'){%- endset -%}
    (
        coalesce({{ w }} like '%,0]' and json_array_length({{ w }}) = 2, false)
        and (
            instr({{ expr }}, ',0]') = 0
            or coalesce(get_json_object(concat('[', {{ expr }}, ',1]'), '$') like '%,1]', false)
        )
        and not {{ expr }} rlike '[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F]'
        and (
            not {{ expr }} rlike '[\\t\\n\\r]'
            or coalesce(get_json_object(
                concat('[', regexp_replace({{ expr }}, '[\\t\\n\\r]', ''), ',0]'), '$'
            ) = {{ w }}, false)
        )
        and (
            instr({{ expr }}, chr(39)) = 0
            or get_json_object(concat('[', translate({{ expr }}, chr(39), ' '), ',0]'), '$')
                is not null
        )
        and not regexp_replace(
            regexp_replace({{ w }}, '\\\\\\\\', ''),
            '\\\\u[dD][89abAB][0-9a-fA-F]{2}\\\\u[dD][c-fC-F][0-9a-fA-F]{2}', ''
        ) rlike '(?i)\\\\ud[89a-f]'
    )
{%- endmacro %}


{#- The part of an IRI after its last '/', or the whole IRI when that part is empty. The id an
    activity IRI gives an item or a course under the default rule (var statement_id_rule). -#}
{% macro iri_last_segment(expr) -%}
    coalesce(nullif(regexp_extract({{ expr }}, '([^/]*)$', 1), ''), {{ expr }})
{%- endmacro %}

{#- An activity IRI to a catalog id by the rule of var statement_id_rule. -#}
{% macro activity_catalog_id(expr) -%}
    {%- if var('statement_id_rule') == 'iri' -%}
        {{ expr }}
    {%- elif var('statement_id_rule') == 'last_segment' -%}
        {{ iri_last_segment(expr) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "var statement_id_rule must be 'last_segment' or 'iri', not '"
            ~ var('statement_id_rule') ~ "'"
        ) }}
    {%- endif -%}
{%- endmacro %}


{#- A SQL list of text literals. -#}
{% macro text_list(values) -%}
    ({%- for value in values %}'{{ value }}'{{ ", " if not loop.last }}{% endfor -%})
{%- endmacro %}


{#- A statement's content for the duplicate rule: its minified JSON without what an LRS adds
    (stored, authority, version), so a copy pulled from an LRS equals the file it came from. -#}
{% macro statement_content_hash(expr) -%}
    {{ return(adapter.dispatch('statement_content_hash')(expr)) }}
{%- endmacro %}

{% macro default__statement_content_hash(expr) -%}
    md5(cast(json_merge_patch({{ expr }}, '{"stored":null,"authority":null,"version":null}') as varchar))
{%- endmacro %}

{#- Spark: the statement is DuckDB's minified text (the Spark loader writes it as DuckDB does),
    so the top-level members stored, authority and version are cut out of the text with their
    commas: a run of them first in the object, then each later one. A value is a string, a
    literal, or an object or array up to 8 levels deep. Members are cut only from a statement
    that has one at the top; a nested member of the same name (an extension's "version") then
    goes too, which DuckDB keeps (docs/scale-out.md, statements). -#}
{% macro spark__statement_content_hash(expr) -%}
    {%- set string -%}"(?:[^"\\]++|\\.)*+"{%- endset -%}
    {%- set ns = namespace(value='(?:' ~ string ~ '|[^,{}\\[\\]"]++)') -%}
    {%- for depth in range(8) -%}
        {%- set ns.value = '(?:' ~ string ~ '|[^,{}\\[\\]"]++|[{\\[](?:[^{}\\[\\]"]++|'
            ~ string ~ '|' ~ ns.value ~ ')*+[}\\]])' -%}
    {%- endfor -%}
    {%- set member = '"(?:stored|authority|version)":' ~ ns.value -%}
    {%- set pattern = '(?<=\\{)' ~ member ~ '(?:,' ~ member ~ ')*+(?:,|(?=}))|,' ~ member ~ '(?=[,}])' -%}
    md5(case
        when arrays_overlap(json_object_keys({{ expr }}), array('stored', 'authority', 'version'))
            then regexp_replace({{ expr }}, '{{ pattern | replace('\\', '\\\\') }}', '')
        else {{ expr }}
    end)
{%- endmacro %}


{#- A UTC timestamp as the ISO text the attempt and enrollment chains parse. -#}
{% macro utc_iso_text(expr) -%}
    {{ return(adapter.dispatch('utc_iso_text')(expr)) }}
{%- endmacro %}

{% macro default__utc_iso_text(expr) -%}
    strftime({{ expr }}, '%Y-%m-%dT%H:%M:%S.%f') || 'Z'
{%- endmacro %}

{% macro spark__utc_iso_text(expr) -%}
    date_format({{ expr }}, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS") || 'Z'
{%- endmacro %}


{#- A number as text without float noise for whole numbers. -#}
{% macro number_text(expr) -%}
    cast({{ expr }} as {{ text_type() }})
{%- endmacro %}


{#- True when the text matches the regular expression (partial match). -#}
{% macro regexp_like(expr, pattern) -%}
    {{ return(adapter.dispatch('regexp_like')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regexp_like(expr, pattern) -%}
    regexp_matches({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__regexp_like(expr, pattern) -%}
    ({{ expr }} rlike '{{ pattern }}')
{%- endmacro %}
