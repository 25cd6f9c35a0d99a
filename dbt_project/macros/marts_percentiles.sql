{#- Mid-rank percentile of query values within groups of member values (docs: percentile).

    percentile = 100 * (members below v + 0.5 * members tied with v) / members in the group

    members: a relation with group_columns and `value`; queries: group_columns, key_columns and
    `value`. A query value need not be a member (percentile_low/high place theta -/+ 1.96 SE in
    the group's distribution); when it is (the learner's own theta), the learner is one of the
    tied members and counts half. Ties compare marts_tie_value(value). One sort per group, no
    self-join: members and queries are sorted together and members are counted with windows. -#}
{% macro marts_midrank_percentile(members, queries, group_columns, key_columns) -%}
    {%- set partition = group_columns | join(', ') -%}
    select
        {%- for column in group_columns %}
        {{ column }},
        {%- endfor %}
        {%- for column in key_columns %}
        {{ column }},
        {%- endfor %}
        100.0 * (n_members_at_or_below - 0.5 * n_members_tied) / n_members as percentile
    from (
        select
            points.*,
            sum(is_member) over (
                partition by {{ partition }}
                order by tie_value
                range between unbounded preceding and current row
            ) as n_members_at_or_below,
            sum(is_member) over (partition by {{ partition }}, tie_value) as n_members_tied,
            sum(is_member) over (partition by {{ partition }}) as n_members
        from (
            select
                {%- for column in group_columns %}
                {{ column }},
                {%- endfor %}
                {%- for column in key_columns %}
                null as {{ column }},
                {%- endfor %}
                {{ marts_tie_value('value') }} as tie_value,
                1 as is_member
            from {{ members }}
            union all
            select
                {%- for column in group_columns %}
                {{ column }},
                {%- endfor %}
                {%- for column in key_columns %}
                {{ column }},
                {%- endfor %}
                {{ marts_tie_value('value') }} as tie_value,
                0 as is_member
            from {{ queries }}
        ) as points
    ) as ranked
    where is_member = 0 and n_members > 0
{%- endmacro %}
