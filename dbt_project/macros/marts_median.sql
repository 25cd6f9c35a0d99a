{#- Continuous median, as an aggregate (optionally followed by an over clause). DuckDB has no
    percentile_cont ordered-set aggregate but a median() that also works as a window function.
    For figures within one company (the weight cap); a figure across companies uses
    marts_peer_median below, because a plain median can be one company's exact value. -#}
{% macro marts_median(expression) -%}
    {{ return(adapter.dispatch('marts_median')(expression)) }}
{%- endmacro %}

{% macro default__marts_median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__marts_median(expression) -%}
    median({{ expression }})
{%- endmacro %}

{#- The published peer median (docs: peer_median_score): the mean of the central companies of
    the peer group, 3 when the group has an odd number of companies and 4 when even (all of
    them below that), and NULL when that mean equals, at its published precision (0-500 scale,
    one decimal), the score of any company in the group.

    Why: with a plain median, a group of 5 publishes the third company's exact score to the
    other four. A mean over at least 3 companies lies between the lowest and the highest of
    them, so it equals the score of a company outside the window only if it ties with one
    inside, and the last check withholds the rare mean that lands exactly on a company's
    score (for example 1, 2, 3 has mean 2), ties included, since a tie published would tell the
    tied company that another one has its score. So no published peer median is a company's
    score. Groups below min_peer_companies (>= 3) are suppressed anyway.

    members: a relation with group_columns and `value` (a company theta), one row per company.
    Returns group_columns, n_members and peer_median (theta scale). Every peer median uses it. -#}
{% macro marts_peer_median(members, group_columns) -%}
    {%- set partition = group_columns | join(', ') -%}
    select
        {%- for column in group_columns %}
        central.{{ column }},
        {%- endfor %}
        central.n_members,
        case when count(members.value) = 0 then central.window_mean end as peer_median
    from (
        select
            {%- for column in group_columns %}
            {{ column }},
            {%- endfor %}
            n_members,
            avg(value) as window_mean
        from (
            select
                *,
                -- Ranks lo..hi with lo = (n - w) / 2 + 1 and hi = (n + w) / 2 are the central w.
                least(n_members, case when n_members % 2 = 1 then 3 else 4 end) as window_size
            from (
                select
                    {%- for column in group_columns %}
                    {{ column }},
                    {%- endfor %}
                    value,
                    row_number() over (partition by {{ partition }} order by value) as value_rank,
                    count(*) over (partition by {{ partition }}) as n_members
                from {{ members }}
            ) as ranked
        ) as sized
        where 2 * value_rank between n_members - window_size + 2 and n_members + window_size
        group by
            {%- for column in group_columns %}
            {{ column }},
            {%- endfor %}
            n_members
    ) as central
    left join {{ members }} as members
        on {% for column in group_columns -%}
        central.{{ column }} = members.{{ column }}
        and {% endfor -%}
        {{ marts_theta_to_score('members.value', 1) }} = {{ marts_theta_to_score('central.window_mean', 1) }}
    group by
        {%- for column in group_columns %}
        central.{{ column }},
        {%- endfor %}
        central.n_members,
        central.window_mean
{%- endmacro %}
