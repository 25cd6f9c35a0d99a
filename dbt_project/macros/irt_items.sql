{#- The one home of what a settled item is: one with its own skill_id, or whose course teaches
    one skill. Any other item is a candidate of each of its course's skills (is_candidate), and
    the IRT stage decides by data which one it assesses. int_item_candidate_skills and
    int_irt_responses both apply it; orchestration/irt reads their is_candidate column. -#}
{% macro is_candidate_item(is_given, n_candidates) -%}
    (not {{ is_given }} and {{ n_candidates }} > 1)
{%- endmacro %}
