{#
    Generic test whole_second_timestamp: fails for every row whose timestamp carries a fraction of a
    second. The contract sends timestamps as `YYYY-MM-DD HH:MM:SS` (docs/behaviour.md#parsing), so a sub-second part
    would either be lost on the wire or break the primary key's equality on the destination.
    Nulls pass (nullability is the not_null constraint's job).
#}
{% test whole_second_timestamp(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} <> date_trunc('second', {{ column_name }})

{% endtest %}
