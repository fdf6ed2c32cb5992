{{ config(enabled=var('product_master_table', none) is not none) }}

with

source as (

    select * from {{ source('product_master', 'product_master') }}

),

cleaned as (

    select
        -- ids
        {{ clean_text('product_id') }} as product_id

    from source

)

select * from cleaned
