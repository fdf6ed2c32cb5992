{#
    docs/behaviour.md#current-state: confirmations whose order does not exist (or that carry no order_no or no confirmation_id, so they
    cannot be attached or deduplicated) are ignored by the marts. This warning-level test counts them so
    the loss is visible without blocking the export. Returns one row per kind of unattached
    confirmation; fail_calc sums them, so the warning shows how many confirmations are ignored.
    Read from the stored versions of every confirmation (the deduplicated model holds only the orders a
    build recomputes), per confirmation_id over all its versions: without an order_no in any version, or
    with order numbers none of which is an order.
    On an incremental build it counts the confirmations with a version stored since the last applied
    build (int_build_state); on the first build, --full-refresh and the scheduled whole-history run
    (`--vars '{test_whole_history: true}'`), every confirmation.
#}
{{ config(severity='warn', fail_calc='coalesce(sum(confirmations), 0)') }}

{%- set scoped = not whole_history_tests() %}

with

raw_confirmations as (

    select * from {{ ref('stg_mes__confirmations') }}

),

confirmation_versions as (

    select * from {{ ref('int_confirmation_versions') }}

),

build_state as (

    -- the latest row (DuckDB keeps only that one; Spark appends one per build)
    select * from {{ ref('int_build_state') }}
    where build_sequence = (select max(build_sequence) from {{ ref('int_build_state') }})

),

new_versions as (

    -- the versions this build is the first applied build to read (all of them on a full build)
    select confirmation_versions.*
    from confirmation_versions
    cross join build_state
    where
        build_state.rebuild_everything
        or confirmation_versions.load_sequence > coalesce(build_state.since_confirmation_load_sequence, 0)

),

checked_versions as (

    {% if scoped -%}
    select * from confirmation_versions
    where confirmation_id in (select confirmation_id from new_versions)
    {%- else -%}
    select * from confirmation_versions
    {%- endif %}

),

order_numbers as (

    select distinct order_number from {{ ref('int_production_order_versions') }}
    where
        order_number is not null
        and {% if scoped %}order_number in (select order_number from checked_versions){% else %}true{% endif %}

),

per_confirmation as (

    select
        checked_versions.confirmation_id,
        count(checked_versions.order_number) as versions_with_order_no,
        count(order_numbers.order_number) as versions_with_an_order
    from checked_versions
    left join order_numbers
        on checked_versions.order_number = order_numbers.order_number
    where checked_versions.confirmation_id is not null
    group by checked_versions.confirmation_id

),

unattached as (

    select
        'confirmation without confirmation_id' as problem,
        count(*) as confirmations
    {% if scoped -%}
    from new_versions
    {%- else -%}
    from raw_confirmations
    {%- endif %}
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
