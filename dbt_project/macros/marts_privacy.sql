{#- Privacy thresholds (docs/marts.md). Every mart reads them through this macro, which
    refuses a value below 3 at compile time, so a misconfigured run cannot publish anything. -#}
{% macro marts_privacy_threshold(name) -%}
    {%- if name not in ('min_peer_companies', 'min_company_learners') -%}
        {{ exceptions.raise_compiler_error("marts_privacy_threshold: unknown threshold '" ~ name ~ "'") }}
    {%- endif -%}
    {%- set value = var(name) -%}
    {%- if value is not number or value < 3 -%}
        {{ exceptions.raise_compiler_error(
            "Privacy threshold var '" ~ name ~ "' is " ~ value ~ "; docs/marts.md requires a number >= 3") }}
    {%- endif -%}
    {{ value | int }}
{%- endmacro %}

{#- Companies that count toward a peer group's min_peer_companies: those with at least
    min_company_learners reportable learners in the skill, the companies whose own score
    company_skill_benchmarks may show. A company with fewer still has its reportable learners
    in a learner peer distribution, but does not make a group big enough: otherwise one big
    company and four one-learner companies would form a "group of 5" in which the big one can
    place the four others' learners from its own learners' percentiles.
    learner_scores: a relation with company_id, skill_id, is_reportable (learner_skill_scores).
    Returns company_id, skill_id, n_reportable_learners. -#}
{% macro marts_peer_counted_companies(learner_scores) -%}
    select
        company_id,
        skill_id,
        count(*) as n_reportable_learners
    from {{ learner_scores }}
    where is_reportable
    group by
        company_id,
        skill_id
    having count(*) >= {{ marts_privacy_threshold('min_company_learners') }}
{%- endmacro %}
