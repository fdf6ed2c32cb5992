{#
    Generic test non_negative: fails for every row whose value is below zero. Used on unit counts
    (ordered_units, produced_units) where a negative value means a parsing or rollup bug.
    Nulls pass.
#}
{% test non_negative(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} < 0

{% endtest %}
