{#- The upsert rule for dimension entities (docs/interfaces.md), in one place.

    Valid versions of a key are ordered by load (load_id, row_number): the last loaded wins
    (`cleaned`); an earlier copy with exactly the same content is an `exact_duplicate`; an
    earlier, different version is `superseded`; rows with a reject_reason stay `rejected`. -#}

{#- Ranks of the valid rows of `relation` per key and per key and content. -#}
{% macro upsert_ranks(relation, key_columns, content_columns) -%}
    select
        load_id,
        row_number,
        row_number() over (
            partition by {{ key_columns | join(', ') }}
            order by load_id desc, row_number desc
        ) as version_rank,
        row_number() over (
            partition by {{ (key_columns + content_columns) | join(', ') }}
            order by load_id desc, row_number desc
        ) as content_rank
    from {{ relation }}
    where reject_reason is null
{%- endmacro %}

{#- Where a landed row went, from its checked row and its ranks (left-joined). -#}
{% macro upsert_row_status(checked, ranked) -%}
    case
        when {{ checked }}.reject_reason is not null then 'rejected'
        when {{ ranked }}.version_rank = 1 then 'cleaned'
        when {{ ranked }}.content_rank > 1 then 'exact_duplicate'
        else 'superseded'
    end
{%- endmacro %}
