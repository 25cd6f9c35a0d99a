{#- One row per company x peer_group_type with the company's own value for that type:
    all -> 'all', industry, country, company_size -> size_band (seed company_size_bands);
    a missing value becomes 'unknown' so that those companies still form a (likely suppressed) group. -#}
{% macro marts_company_peer_groups(companies) -%}
    select company_id, 'all' as peer_group_type, 'all' as peer_group_value from {{ companies }}
    union all
    select company_id, 'industry', coalesce(industry, 'unknown') from {{ companies }}
    union all
    select company_id, 'country', coalesce(country, 'unknown') from {{ companies }}
    union all
    select company_id, 'company_size', coalesce(size_band, 'unknown') from {{ companies }}
{%- endmacro %}
