{#- Trimmed inverse-variance weighted mean of learner thetas per group (docs: company_score).

    w_i  = 1 / se_i^2                                    (se floored at 0.01)
    w'_i = least(w_i, k * median(w) of the group)        k = var weight_cap_ratio (default 3)
    mean = sum(w'_i * theta_i) / sum(w'_i)
    se   = sqrt(greatest(V_meas, V_spread)), where
           V_meas   = sum(w'_i^2 * se_i^2) / sum(w'_i)^2               (measurement error)
           V_spread = n/(n-1) * sum(w'_i^2 * (theta_i - mean)^2) / sum(w'_i)^2
                      (sandwich variance: between-learner spread; 0 when n = 1)

    learner_scores: a relation with group_columns, theta, theta_se (reportable learners only).
    Returns group_columns, n_learners, theta, theta_se, max_weight_share. -#}
{% macro marts_trimmed_weighted_mean(learner_scores, group_columns) -%}
    {%- set by = group_columns | join(', ') -%}
    {%- set k = var('weight_cap_ratio') -%}
    select
        {%- for column in group_columns %}
        {{ column }},
        {%- endfor %}
        cast(count(*) as integer) as n_learners,
        mean_theta as theta,
        sqrt(greatest(
            sum(capped_weight * capped_weight * theta_se * theta_se),
            case
                when count(*) > 1
                    then count(*) / (count(*) - 1.0)
                        * sum(capped_weight * capped_weight * (learner_theta - mean_theta) * (learner_theta - mean_theta))
                else 0
            end
        )) / sum(capped_weight) as theta_se,
        max(capped_weight) / sum(capped_weight) as max_weight_share
    from (
        select
            capped.*,
            sum(capped_weight * learner_theta) over (partition by {{ by }})
                / sum(capped_weight) over (partition by {{ by }}) as mean_theta
        from (
            select
                weighted.*,
                least(raw_weight, {{ k }} * median_weight) as capped_weight
            from (
                select
                    {%- for column in group_columns %}
                    {{ column }},
                    {%- endfor %}
                    theta as learner_theta,
                    greatest(theta_se, 0.01) as theta_se,
                    1.0 / (greatest(theta_se, 0.01) * greatest(theta_se, 0.01)) as raw_weight,
                    {{ marts_median('1.0 / (greatest(theta_se, 0.01) * greatest(theta_se, 0.01))') }}
                        over (partition by {{ by }}) as median_weight
                from {{ learner_scores }}
            ) as weighted
        ) as capped
    ) as centred
    group by
        {%- for column in group_columns %}
        {{ column }},
        {%- endfor %}
        mean_theta
{%- endmacro %}
