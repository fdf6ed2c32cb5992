{#
    get_where_subquery(relation) -> what a generic data test reads: dbt's own macro of that name,
    overridden (dbt's documented way to give `where` custom logic) for one token.

    A test whose `where` config contains `__changed_orders__` checks, on an incremental build, only the
    rows of the orders this build recomputed (int_orders_to_rebuild) and the rows without an order
    number (every build recomputes all of them): for `unique` and `unique_combination` that is the
    uniqueness of those keys against the whole table, since every row with such a key is read. On the
    first build, on --full-refresh and on the scheduled whole-history run (`--vars
    '{test_whole_history: true}'`), the token is `true` and the test reads the whole table.

    `__changed_locations__` does the same for the location marts, by location_id: the plants this build
    recomputed (int_locations_to_rebuild) and the rows without a location_id
    (macros/incremental_locations.sql). The marts folder's tests default to `__changed_orders__`
    (dbt_project.yml); the location marts' tests set their own `where`.

    dbt's YAML test configuration cannot call ref() or project macros, hence the tokens; the relation of
    int_orders_to_rebuild (int_locations_to_rebuild) is taken from the graph (every model this is used on is built after it).
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- if '__changed_orders__' in where -%}
        {%- set where = where | replace('__changed_orders__', changed_orders_predicate()) -%}
    {%- endif -%}
    {%- if '__changed_locations__' in where -%}
        {%- set where = where | replace('__changed_locations__', changed_locations_predicate()) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}


{% macro changed_orders_predicate() -%}
    {%- if whole_history_tests() or not execute -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.int_orders_to_rebuild'] -%}
    {%- set rebuilt = api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) -%}
    {{- return('(order_number is null or order_number in (select order_number from ' ~ rebuilt ~ '))') -}}
{%- endmacro %}
