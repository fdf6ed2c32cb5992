{{ config(enabled=var('product_master_table', none) is not none) }}

with

products as (

    select * from {{ ref('stg_product_master__products') }}

),

known_products as (

    select distinct product_id
    from products
    where product_id is not null

)

select * from known_products
