{#- Privacy thresholds (CONTRACT.md section 2). Every mart reads them through this macro, which
    refuses a value below 3 at compile time, so a misconfigured run cannot publish anything. -#}
{% macro marts_privacy_threshold(name) -%}
    {%- set defaults = {'min_peer_companies': 5, 'min_company_learners': 5} -%}
    {%- if name not in defaults -%}
        {{ exceptions.raise_compiler_error("marts_privacy_threshold: unknown threshold '" ~ name ~ "'") }}
    {%- endif -%}
    {%- set value = var(name, defaults[name]) -%}
    {%- if value is not number or value < 3 -%}
        {{ exceptions.raise_compiler_error(
            "Privacy threshold var '" ~ name ~ "' is " ~ value ~ "; CONTRACT.md requires a number >= 3") }}
    {%- endif -%}
    {{ value | int }}
{%- endmacro %}
