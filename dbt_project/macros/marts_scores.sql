{#- Score scale and proficiency levels shared by every mart (docs: skill_score, proficiency_level). -#}

{#- theta -> 0-500 reporting scale: clamp(round(250 + 50 * theta), 0, 500). With digits = 0 the
    result is an integer (learner scores); company aggregates keep one decimal. -#}
{#- The explicit NULL branch matters: DuckDB's least/greatest skip NULLs, so a suppressed (NULL)
    theta would otherwise become a score of 0. -#}
{% macro marts_theta_to_score(theta, digits=0) -%}
    case
        when ({{ theta }}) is null then null
        {%- if digits == 0 %}
        else cast(least(500, greatest(0, round(250 + 50 * ({{ theta }})))) as integer)
        {%- else %}
        else cast(least(500, greatest(0, round(250 + 50 * ({{ theta }}), {{ digits }}))) as double)
        {%- endif %}
    end
{%- endmacro %}

{#- A standard error on the score scale (50 score points per logit). -#}
{% macro marts_se_to_score(theta_se) -%}
    cast(round(50 * ({{ theta_se }}), 1) as double)
{%- endmacro %}

{#- Levels are cut on the displayed score so that a score and its level never disagree: one
    logit (50 points) per level, centred on the reference population (theta ~ N(0, 1)). -#}
{% macro marts_proficiency_level(score) -%}
    case
        when ({{ score }}) is null then null
        when ({{ score }}) < 200 then 'Foundational'
        when ({{ score }}) < 250 then 'Developing'
        when ({{ score }}) < 300 then 'Proficient'
        when ({{ score }}) < 350 then 'Advanced'
        else 'Expert'
    end
{%- endmacro %}

{% macro marts_proficiency_rank(score) -%}
    case
        when ({{ score }}) is null then null
        when ({{ score }}) < 200 then 1
        when ({{ score }}) < 250 then 2
        when ({{ score }}) < 300 then 3
        when ({{ score }}) < 350 then 4
        else 5
    end
{%- endmacro %}

{#- Ties in percentiles: thetas equal to 4 decimals (the EM convergence tolerance, 1e-4) are
    the same ability; smaller differences are numerical noise, not measurement. -#}
{% macro marts_tie_value(theta) -%}
    round(({{ theta }}), 4)
{%- endmacro %}
