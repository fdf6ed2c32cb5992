{#
    docs/behaviour.md#current-state: confirmations whose order does not exist (or that carry no order_no or no confirmation_id, so they
    cannot be attached or deduplicated) are ignored by the marts. This warning-level test counts them so
    the loss is visible without blocking the export. Returns one row per kind of unattached
    confirmation; fail_calc sums them, so the warning shows how many confirmations are ignored.
    Read from the stored versions of every confirmation (the deduplicated model holds only the orders a
    build recomputes), per confirmation_id over all its versions: without an order_no in any version, or
    with order numbers none of which is an order.
#}
{{ config(severity='warn', fail_calc='coalesce(sum(confirmations), 0)') }}

with

raw_confirmations as (

    select * from {{ ref('stg_mes__confirmations') }}

),

confirmation_versions as (

    select * from {{ ref('int_confirmation_versions') }}

),

order_numbers as (

    select distinct order_number from {{ ref('int_production_order_versions') }}
    where order_number is not null

),

per_confirmation as (

    select
        confirmation_versions.confirmation_id,
        count(confirmation_versions.order_number) as versions_with_order_no,
        count(order_numbers.order_number) as versions_with_an_order
    from confirmation_versions
    left join order_numbers
        on confirmation_versions.order_number = order_numbers.order_number
    where confirmation_versions.confirmation_id is not null
    group by confirmation_versions.confirmation_id

),

unattached as (

    select
        'confirmation without confirmation_id' as problem,
        count(*) as confirmations
    from raw_confirmations
    where confirmation_id is null

    union all

    select
        'confirmation without order_no' as problem,
        count(*) as confirmations
    from per_confirmation
    where versions_with_order_no = 0

    union all

    select
        'confirmation of an order that does not exist' as problem,
        count(*) as confirmations
    from per_confirmation
    where versions_with_order_no > 0 and versions_with_an_order = 0

),

final as (

    select * from unattached
    where confirmations > 0

)

select * from final
