with

confirmations as (

    select * from {{ ref('int_confirmations_deduplicated') }}

),

aggregated as (

    select
        -- ids
        order_number,

        -- counts and flags
        count(*) as confirmation_count,
        count(*) filter (where is_final) as final_confirmation_count,
        coalesce(bool_or(yield_units is null), false) as has_invalid_yield,
        coalesce(bool_or(confirmed_ts is not null and confirmed_at is null), false) as has_invalid_timestamp,

        -- quantities: sum over whole-number yields only (wider than 64 bits, range-checked downstream)
        sum(cast(yield_units as {{ wide_integer_type() }})) as yield_units_sum,

        -- timestamps (missing/invalid confirmed_ts never count toward a date)
        min(confirmed_at) filter (where yield_units >= 0) as first_non_reversal_confirmed_at,
        max(confirmed_at) filter (where is_final) as last_final_confirmed_at,
        max(confirmed_at) as last_confirmed_at

    from confirmations
    where order_number is not null
    group by order_number

),

final as (

    select
        *,
        -- docs/behaviour.md#contract actual_end_date, confirmation side: the latest final confirmation when the order
        -- has any final confirmation (even if none of them has a valid timestamp: then null),
        -- otherwise the latest confirmation; the order model keeps it only for completed orders
        case
            when final_confirmation_count > 0 then last_final_confirmed_at
            else last_confirmed_at
        end as completion_confirmed_at

    from aggregated

)

select * from final
