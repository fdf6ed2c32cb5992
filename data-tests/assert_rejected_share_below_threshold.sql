{#
    Error when more than var('max_rejected_share') (default 0.05) of the orders are rejected: a
    sudden jump in rejections usually means a source-format change, and exporting the remaining few
    would silently drop most of the plant's orders. The share is rejected rows / all rows of the two
    marts (unkeyed raw rows count as rejected orders). No orders at all passes.
#}
{{ config(severity='error') }}

with

exported as (

    select count(*) as orders from {{ ref('peak_manufacturing_orders') }}

),

rejected as (

    select count(*) as orders from {{ ref('peak_manufacturing_orders_rejected') }}

),

final as (

    select
        rejected.orders as rejected_orders,
        exported.orders + rejected.orders as all_orders,
        rejected.orders / (exported.orders + rejected.orders) as rejected_share,
        {{ var('max_rejected_share') }} as max_rejected_share
    from exported
    cross join rejected
    where
        exported.orders + rejected.orders > 0
        and rejected.orders / (exported.orders + rejected.orders) > {{ var('max_rejected_share') }}

)

select * from final
