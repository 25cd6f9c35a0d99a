{#- Mid-rank percentile of query values within groups of member values (docs: percentile).

    percentile = 100 * (members below v + 0.5 * members tied with v) / members in the group

    members: a relation with group_columns and `value`; queries: group_columns, key_columns and
    `value`. A query value need not be a member (percentile_low/high place theta -/+ 1.96 SE in
    the group's distribution); when it is (the learner's own theta), the learner is one of the
    tied members and counts half. Ties compare marts_tie_value(value).

    How: the members of each group become a cumulative distribution over their distinct values
    (one window), and each query finds the last value at or below it with an ASOF join. At 10M
    attempts this is several times faster than sorting members and queries together. -#}
{% macro marts_midrank_percentile(members, queries, group_columns, key_columns) -%}
    {{ return(adapter.dispatch('marts_midrank_percentile')(members, queries, group_columns, key_columns)) }}
{%- endmacro %}

{% macro default__marts_midrank_percentile(members, queries, group_columns, key_columns) -%}
    {%- set partition = group_columns | join(', ') -%}
    {#- Each group gets a number (in group order, so both uses agree): the ASOF join and the
        window then partition on one integer instead of the group's strings (at M, 4.6M
        queries: 6.4 s -> 5.3 s). -#}
    {%- set on_group -%}
        {%- for column in group_columns -%}
        {{ ' and ' if not loop.first }}__side__.{{ column }} = totals.{{ column }}
        {%- endfor -%}
    {%- endset %}
    {%- set totals -%}
        (
            select
                {{ partition }},
                count(*) as n_members,
                row_number() over (order by {{ partition }}) as group_number
            from {{ members }}
            group by {{ partition }}
        ) as totals
    {%- endset %}
    select
        {%- for column in group_columns %}
        query.{{ column }},
        {%- endfor %}
        {%- for column in key_columns %}
        query.{{ column }},
        {%- endfor %}
        100.0 * (
            coalesce(cdf.n_at_or_below, 0)
            - 0.5 * case when cdf.tie_value = query.tie_value then cdf.n_tied else 0 end
        ) / query.n_members as percentile
    from (
        select
            queried.*,
            {{ marts_tie_value('queried.value') }} as tie_value,
            totals.group_number,
            totals.n_members
        from {{ queries }} as queried
        inner join {{ totals }}
            on {{ on_group | replace('__side__', 'queried') }}
    ) as query
    asof left join (
        select
            *,
            sum(n_tied) over (
                partition by group_number
                order by tie_value
                rows between unbounded preceding and current row
            ) as n_at_or_below
        from (
            select
                totals.group_number,
                {{ marts_tie_value('member.value') }} as tie_value,
                count(*) as n_tied
            from {{ members }} as member
            inner join {{ totals }}
                on {{ on_group | replace('__side__', 'member') }}
            group by totals.group_number, {{ marts_tie_value('member.value') }}
        )
    ) as cdf
        on query.group_number = cdf.group_number
        and query.tie_value >= cdf.tie_value
{%- endmacro %}


{#- Spark has no ASOF join. The same lookup as one window: the cumulative distribution's rows and
    the queries are merged per group in order of tie value (a distribution row before a query
    at the same value), and each query takes the last distribution row at or below it. -#}
{% macro spark__marts_midrank_percentile(members, queries, group_columns, key_columns) -%}
    {%- set partition = group_columns | join(', ') -%}
    select
        {%- for column in group_columns %}
        merged.{{ column }},
        {%- endfor %}
        {%- for column in key_columns %}
        merged.{{ column }},
        {%- endfor %}
        cast(100 as double) * (
            coalesce(merged.last_n_at_or_below, 0)
            - 0.5 * case when merged.last_tie_value = merged.tie_value then merged.last_n_tied else 0 end
        ) / totals.n_members as percentile
    from (
        select
            *,
            last(case when is_cdf then cdf_n_at_or_below end, true) over cdf_so_far as last_n_at_or_below,
            last(case when is_cdf then tie_value end, true) over cdf_so_far as last_tie_value,
            last(case when is_cdf then cdf_n_tied end, true) over cdf_so_far as last_n_tied
        from (
            select
                {{ partition }},
                {%- for column in key_columns %}
                {{ column }},
                {%- endfor %}
                {{ marts_tie_value('value') }} as tie_value,
                false as is_cdf,
                cast(null as bigint) as cdf_n_tied,
                cast(null as bigint) as cdf_n_at_or_below
            from {{ queries }}
            union all
            select
                {{ partition }},
                {%- for column in key_columns %}
                null as {{ column }},
                {%- endfor %}
                tie_value,
                true as is_cdf,
                n_tied as cdf_n_tied,
                sum(n_tied) over (
                    partition by {{ partition }}
                    order by tie_value
                    rows between unbounded preceding and current row
                ) as cdf_n_at_or_below
            from (
                select {{ partition }}, {{ marts_tie_value('value') }} as tie_value, count(*) as n_tied
                from {{ members }}
                group by {{ partition }}, {{ marts_tie_value('value') }}
            )
        )
        window cdf_so_far as (
            partition by {{ partition }}
            order by tie_value, is_cdf desc
            rows between unbounded preceding and current row
        )
    ) as merged
    inner join (
        select {{ partition }}, count(*) as n_members
        from {{ members }}
        group by {{ partition }}
    ) as totals
        on {% for column in group_columns -%}
        {{ 'and ' if not loop.first }}merged.{{ column }} = totals.{{ column }}
        {% endfor -%}
    where not merged.is_cdf
{%- endmacro %}
