{#
    docs/locations.md: a manufacturing order references its location by location_id, and that location
    must be a factory (peak_manufacturing_orders' config.meta.peak.references: the exporter sends orders
    only against such a location). Every exported order's location_id must therefore be a row of
    peak_locations with is_factory true. The order rules (unknown_location, location_not_factory) make
    this hold; the test catches a plant the location marts reject (a version without _extracted_at)
    while its orders are exported. On an incremental build it checks the orders the build recomputed
    (int_orders_to_rebuild: a changed plant recomputes every order at it); on the first build,
    --full-refresh and the whole-history run, every order. Returns one row per offending order.
#}
{%- set scoped = not whole_history_tests() %}

with

exported_orders as (

    select
        order_number,
        location_id
    from {{ ref('peak_manufacturing_orders') }}

),

rebuilt_orders as (

    select order_number from {{ ref('int_orders_to_rebuild') }}

),

locations as (

    select
        location_id,
        is_factory
    from {{ ref('peak_locations') }}

),

checked_orders as (

    select * from exported_orders
    {%- if scoped %}
    where order_number in (select order_number from rebuilt_orders)
    {%- endif %}

),

final as (

    select
        checked_orders.order_number,
        checked_orders.location_id,
        case
            when locations.location_id is null then 'no such location in peak_locations'
            else 'the location is not a factory'
        end as problem
    from checked_orders
    left join locations
        on checked_orders.location_id = locations.location_id
    where locations.location_id is null or not locations.is_factory

)

select * from final
