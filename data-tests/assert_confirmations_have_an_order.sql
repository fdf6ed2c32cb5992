{#
    SPEC 4: confirmations whose order does not exist (or that carry no order_no or no
    confirmation_id, so they cannot be attached or deduplicated) are ignored by the marts. This
    warning-level test counts them so the loss is visible without blocking the export. Returns one
    row per kind of unattached confirmation; fail_calc sums them, so the warning shows how many
    confirmations are ignored.
#}
{{ config(severity='warn', fail_calc='coalesce(sum(confirmations), 0)') }}

with

raw_confirmations as (

    select * from {{ ref('stg_mes__confirmations') }}

),

current_confirmations as (

    select * from {{ ref('int_confirmations_deduplicated') }}

),

current_orders as (

    select order_number from {{ ref('int_production_orders_deduplicated') }}

),

unattached as (

    select 'confirmation without confirmation_id' as problem, count(*) as confirmations
    from raw_confirmations
    where confirmation_id is null

    union all

    select 'confirmation without order_no' as problem, count(*) as confirmations
    from current_confirmations
    where order_number is null

    union all

    select 'confirmation of an order that does not exist' as problem, count(*) as confirmations
    from current_confirmations
    where current_confirmations.order_number is not null
        and not exists (
            select 1 from current_orders
            where current_orders.order_number = current_confirmations.order_number
        )

),

final as (

    select * from unattached where confirmations > 0

)

select * from final
