-- A returned row is an entity whose landed rows do not add up: every row of raw.<entity> must
-- end in exactly one place, the cleaned model, the rejected model, the superseded versions or
-- the exact duplicates (docs/landing-contract.md, "Nothing is lost").
with

accounting as (select * from {{ ref('stg_row_accounting') }}),

unbalanced as (
    select
        entity,
        n_landed,
        n_cleaned,
        n_superseded,
        n_rejected,
        n_exact_duplicates,
        n_cleaned + n_superseded + n_rejected + n_exact_duplicates as n_accounted
    from accounting
)

select * from unbalanced
where n_landed != n_accounted
