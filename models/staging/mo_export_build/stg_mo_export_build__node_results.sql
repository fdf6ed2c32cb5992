with

source as (

    select * from {{ source('mo_export_build', 'node_results') }}

),

renamed as (

    select
        -- ids
        invocation_id,
        unique_id,

        -- outcome
        resource_type,
        status,
        command

    from source

)

select * from renamed
