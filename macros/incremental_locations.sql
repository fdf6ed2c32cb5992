{#
    The incremental build of the location marts (see the incremental_locations docs).

    delete_rebuilt_locations(compare_defaults) -> pre-hook of an incremental location mart: delete the rows
    of every plant this build recomputes (int_locations_to_rebuild) and every row without a location_id
    (each build recomputes all of them). With compare_defaults (peak_locations), also the rows whose
    var-filled columns (country, is_store, is_dc) differ from this build's vars, so a changed var reaches
    every row at once. The model then appends every row the mart no longer holds, in the same
    transaction, with the verdict post-hook. Empty on a full build.
#}
{% macro delete_rebuilt_locations(compare_defaults=false) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where
            location_id is null
            or location_id in (select location_id from {{ ref('int_locations_to_rebuild') }})
            {%- if compare_defaults %}
            or country is distinct from {{ location_country() }}
            or is_store <> {{ location_flag('location_is_store') }}
            or is_dc <> {{ location_flag('location_is_dc') }}
            {%- endif %}
    {%- endif -%}
{%- endmacro %}


{#
    changed_locations_predicate() -> the predicate the token `__changed_locations__` stands for in a data
    test's `where` (macros/get_where_subquery.sql): the rows of the plants this build recomputed
    (int_locations_to_rebuild) and the rows without a location_id, or `true` when whole_history_tests().
#}
{% macro changed_locations_predicate() -%}
    {%- if whole_history_tests() or not execute -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.int_locations_to_rebuild'] -%}
    {%- set rebuilt = api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) -%}
    {{- return('(location_id is null or location_id in (select location_id from ' ~ rebuilt ~ '))') -}}
{%- endmacro %}
