{#- The attempt chain's incremental rule (docs/interfaces.md, staging), in one place.

    stg_attempts_landed stamps every row it (re)decides with processed_at. A landed row keeps
    its learner_id and item_id whenever it is re-decided, so the learner x item pairs of the
    rows decided after a downstream model's watermark (max of its landed_processed_at) are the
    only pairs whose attempts can have changed for it. -#}
{% macro changed_attempt_pairs(landed) -%}
    select distinct learner_id, item_id
    from {{ landed }}
    where processed_at > (
        select coalesce(max(landed_processed_at), '-infinity'::timestamp) from {{ this }}
    )
        and learner_id is not null
        and item_id is not null
{%- endmacro %}
