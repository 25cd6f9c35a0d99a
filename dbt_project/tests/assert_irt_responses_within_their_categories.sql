-- A returned row is an IRT response outside its item's categories: a quiz response must be 0
-- or 1 and an assignment response one of 0 .. assignment_categories - 1.
with

responses as (select * from {{ ref('int_irt_responses') }})

select * from responses
where response < 0 or response >= n_categories
