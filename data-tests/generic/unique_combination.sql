{#
    Generic test unique_combination (model level): fails for every combination of `columns` that
    occurs more than once. Checks a composite key, such as the contract's primary key, without
    needing dbt_utils (the hub is not reachable from this project's machines).
#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
