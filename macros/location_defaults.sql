{#
    location_country() / location_flag(var_name) -> SQL literals of the values the MES does not have

    The MES plant master has no country and no store or distribution-centre flag, while Peak's Locations
    object has both (docs/locations.md). They come from dbt vars, declared with their defaults in
    dbt_project.yml: `location_country` (default null), `location_is_store` and `location_is_dc` (default
    false). A value of the wrong kind fails the build at compile time instead of being guessed.
#}
{% macro location_country() -%}
    {%- set country = var('location_country', none) -%}
    {%- if country is none -%}
        {{- return('cast(null as string)') -}}
    {%- endif -%}
    {%- if country is not string or country | trim == '' -%}
        {{- exceptions.raise_compiler_error(
            "var location_country must be a non-empty text (e.g. DE) or null, not " ~ (country | string)
        ) -}}
    {%- endif -%}
    {{- return("cast('" ~ (country | trim | replace("'", "''")) ~ "' as string)") -}}
{%- endmacro %}

{% macro location_flag(var_name) -%}
    {%- set value = var(var_name, false) -%}
    {%- if value is not sameas true and value is not sameas false -%}
        {{- exceptions.raise_compiler_error(
            "var " ~ var_name ~ " must be true or false (a YAML boolean), not " ~ (value | string)
        ) -}}
    {%- endif -%}
    {{- return('true' if value else 'false') -}}
{%- endmacro %}
