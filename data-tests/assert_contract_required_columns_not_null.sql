{#
    The contract model's not_null constraints, checked as a data test where the engine does not
    enforce them. DuckDB enforces them when it builds the table, so this test is off there; Spark
    only records them (dbt-spark treats not_null as not enforced on Parquet tables), so on the spark
    target a null in a required column fails the build here, before any export. The columns are the
    ones whose constraints list not_null in the model's YAML, so the list is kept in one place.
    Returns one row per offending contract row, with the names of its null required columns.
#}
{{ config(enabled=(target.type == 'spark'), severity='error') }}

{%- set required = [] -%}
{%- if execute -%}
{%- set contract_model = graph.nodes['model.mo_export.peak_manufacturing_orders'] -%}
{%- for column in contract_model.columns.values() -%}
        {%- if column.constraints | selectattr('type', 'equalto', 'not_null') | list | length > 0 -%}
            {%- do required.append(column.name) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}

with

contract_rows as (

    select * from {{ ref('peak_manufacturing_orders') }}

),

final as (

    select
        order_number,
        concat_ws(
            ',',
            {%- for column in required %}
            case when {{ column }} is null then '{{ column }}' end{{ "," if not loop.last }}
            {%- endfor %}
            {%- if not required %} cast(null as string) {%- endif %}
        ) as null_required_columns
    from contract_rows
    where
        {% for column in required %}{{ column }} is null{{ " or " if not loop.last }}{% endfor %}
        {%- if not required %} false {%- endif %}

)

select * from final
