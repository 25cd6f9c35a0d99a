{#-
    Which attempt of a learner at an item is scored (var scored_attempt): first (default; later
    attempts are practice after feedback), last, or best (highest score, earliest on ties).
-#}
{%- set scored_attempt = var('scored_attempt', 'first') -%}
{%- set orderings = {
    'first': 'attempt_number, submitted_at, attempt_id',
    'last': 'attempt_number desc, submitted_at desc, attempt_id desc',
    'best': 'score_normalised desc, attempt_number, submitted_at, attempt_id',
} -%}
{%- if scored_attempt not in orderings -%}
    {{ exceptions.raise_compiler_error(
        "var scored_attempt must be one of first, last, best; got '" ~ scored_attempt ~ "'"
    ) }}
{%- endif -%}

with

attempts as (select * from {{ ref('stg_attempts') }}),

ranked_attempts as (
    select
        attempts.*,
        row_number() over (
            partition by learner_id, item_id
            order by {{ orderings[scored_attempt] }}
        ) as scored_rank,
        count(*) over (partition by learner_id, item_id) as n_attempts
    from attempts
),

final as (
    select
        learner_id,
        item_id,
        attempt_id,
        submitted_at,
        score_normalised,
        n_attempts
    from ranked_attempts
    where scored_rank = 1
)

select * from final
