{#- Schemas are the layer names (staging, intermediate, marts), not <target>_<layer>: the
    Dagster asset keys and the BI tools use the same names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
