"""Row validation against the sandbox's contract (:mod:`mo_export_dev.sandbox.contract`), as the API does it.

Each object has its own attributes and primary key (manufacturing orders, Locations); the checks are the same.
Every failed row is reported as ``{"index": i, "errors": [{"code", "category", "message", "column"}]}``
where ``index`` is the row's position in the request's ``data``. The sandbox's code table (Peak's real
codes are not public; these follow its ``DI_E_NNNNN`` form):

==========  ===========  ==========================================================================
code        category     meaning (``column`` names the attribute; ``*`` means the whole row)
==========  ===========  ==========================================================================
DI_E_00001  SCHEMA       a contract attribute is missing from the row
DI_E_00002  SCHEMA       the row has a key that is not a contract attribute
DI_E_00003  NULL_CHECK   a required attribute is null
DI_E_00004  DATA_TYPE    a string attribute is not a JSON string
DI_E_00005  DATA_TYPE    an integer attribute is not a JSON integer (bool and float are not)
DI_E_00006  RANGE        an integer attribute is outside the signed 64-bit range
DI_E_00007  FORMAT       a timestamp is not a string of the form ``YYYY-MM-DD HH:MM:SS``
DI_E_00008  FORMAT       a timestamp has the right form but is not a real calendar value
DI_E_00009  PRIMARY_KEY  a second row with the same primary key in one request (column: the key)
DI_E_00010  PRIMARY_KEY  APPEND of a key that is already stored (column: the key)
DI_E_00011  SCHEMA       the row is not a JSON object (column ``*``)
DI_E_00012  BUSINESS     the row's order number is one the sandbox was configured to refuse
DI_E_00013  DATA_TYPE    a boolean attribute is not a JSON ``true``/``false`` (not ``"true"``, not ``1``)
==========  ===========  ==========================================================================

Validation runs column by column: one fast pass over a column decides whether every value is fine, and
only a column that fails it is walked again row by row to say which rows and why. A 500-row request of
valid rows therefore costs a handful of comprehensions per attribute rather than 6,500 function calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from mo_export_dev.sandbox.contract import (
    DUPLICATE_KEY_IN_REQUEST,
    INTEGER_MAX,
    INTEGER_MIN,
    INTEGER_OUT_OF_RANGE,
    KEY_ALREADY_STORED,
    KEY_COLUMN,
    MANUFACTURING_ORDERS,
    MISSING_ATTRIBUTE,
    NOT_A_BOOLEAN,
    NOT_A_STRING,
    NOT_AN_INTEGER,
    REFUSED_BY_RULE,
    REQUIRED_NULL,
    ROW_NOT_AN_OBJECT,
    TIMESTAMP_FORMAT,
    TIMESTAMP_NOT_A_DATE,
    UNKNOWN_ATTRIBUTE,
    WHOLE_ROW,
    Column,
    Error,
    FailedRow,
    ObjectContract,
    row_error,
)

__all__ = ["KEY_ALREADY_STORED", "KEY_COLUMN", "error", "failed_rows", "refuse_order_numbers", "validate_rows"]

error = row_error

_TIMESTAMP_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_VALID_TIMESTAMP = (
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]) (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
)
_TIMESTAMP_LINES = re.compile(rf"(?:{_VALID_TIMESTAMP}\n)*{_VALID_TIMESTAMP}")
#: Timestamps whose day may not exist in their month (29-31); the only ones needing a calendar check.
_LATE_IN_MONTH = re.compile(r"-(?:29|3[01]) ")
_ABSENT = object()
_NONE_TYPE = type(None)
#: (api type, required) -> the Python types a column may hold and pass without a closer look
_ALLOWED_TYPES: dict[tuple[str, bool], set[type]] = {
    ("string", True): {str},
    ("string", False): {str, _NONE_TYPE},
    ("integer", True): {int},
    ("integer", False): {int, _NONE_TYPE},
    ("boolean", True): {bool},
    ("boolean", False): {bool, _NONE_TYPE},
}


@dataclass(frozen=True)
class _Shape:
    """What validating rows of one object needs, computed once per object contract."""

    columns: tuple[Column, ...]
    names: tuple[str, ...]
    name_set: frozenset[str]
    all_values: Callable[[Any], tuple[Any, ...]]
    key_names: tuple[str, ...]
    key_column: str


@lru_cache(maxsize=16)
def _shape(obj: ObjectContract) -> _Shape:
    names = obj.column_names
    return _Shape(obj.columns, names, frozenset(names), itemgetter(*names), obj.primary_key, obj.key_column)


def failed_rows(errors_by_index: dict[int, list[Error]]) -> list[FailedRow]:
    """The response's ``failed`` array, in row order."""
    return [{"index": i, "errors": errors_by_index[i]} for i in sorted(errors_by_index)]


def refuse_order_numbers(rows: Sequence[Any], refused: frozenset[str], errors: dict[int, list[Error]]) -> None:
    """Add a DI_E_00012 error to every row whose order number is in ``refused``."""
    for i, row in enumerate(rows):
        if type(row) is dict and row.get("order_number") in refused:
            errors.setdefault(i, []).append(
                error(REFUSED_BY_RULE, "order_number", "the sandbox was configured to refuse this order number")
            )


def validate_rows(rows: Sequence[Any], obj: ObjectContract = MANUFACTURING_ORDERS) -> dict[int, list[Error]]:
    """Every violation of ``obj``'s contract in every row, by row index; rows that are fine do not appear."""
    shape = _shape(obj)
    errors: dict[int, list[Error]] = {}
    columns = _columns_if_well_shaped(rows, shape)
    if columns is None:
        _check_shapes(rows, shape, errors)
        columns = {
            name: [row.get(name, _ABSENT) if type(row) is dict else _ABSENT for row in rows]
            for name in shape.names
        }
    for attribute in shape.columns:
        _check_column(attribute, columns[attribute.name], errors)
    _check_duplicate_keys(rows, columns, shape, errors)
    return errors


def _columns_if_well_shaped(rows: Sequence[Any], shape: _Shape) -> dict[str, list[Any]] | None:
    """Column lists when every row is an object with exactly the contract's keys, else None.

    An object with as many keys as the contract and every contract key has exactly the contract's keys.
    """
    if not rows or set(map(type, rows)) != {dict} or set(map(len, rows)) != {len(shape.names)}:
        return None
    try:
        transposed = zip(*map(shape.all_values, rows), strict=True)
        return dict(zip(shape.names, map(list, transposed), strict=True))
    except KeyError:
        return None


def _check_shapes(rows: Sequence[Any], shape: _Shape, errors: dict[int, list[Error]]) -> None:
    attribute_names = shape.name_set
    for index, row in enumerate(rows):
        if type(row) is not dict:
            errors.setdefault(index, []).append(
                error(ROW_NOT_AN_OBJECT, WHOLE_ROW, f"row is a JSON {_json_type(row)}, not an object")
            )
            continue
        keys = row.keys()
        if keys == attribute_names:
            continue
        for name in sorted(attribute_names - keys):
            errors.setdefault(index, []).append(
                error(MISSING_ATTRIBUTE, name, f"attribute '{name}' is missing (send null for an optional one)")
            )
        for name in sorted(str(k) for k in keys - attribute_names):
            errors.setdefault(index, []).append(
                error(UNKNOWN_ATTRIBUTE, name, f"'{name}' is not an attribute of this object")
            )


def _check_column(attribute: Column, column: list[Any], errors: dict[int, list[Error]]) -> None:
    if attribute.type == "timestamp":
        if _all_timestamps(column, allow_null=not attribute.required):
            return
    else:
        types = set(map(type, column))
        allowed = _ALLOWED_TYPES[attribute.type, attribute.required]
        if types <= allowed:
            if attribute.type != "integer":
                return
            values = [v for v in column if v is not None] if _NONE_TYPE in types else column
            if not values or (min(values) >= INTEGER_MIN and max(values) <= INTEGER_MAX):
                return
    for index, value in enumerate(column):
        problem = _value_error(attribute, value)
        if problem is not None:
            errors.setdefault(index, []).append(problem)


def _value_error(attribute: Column, value: Any) -> Error | None:
    name = attribute.name
    if value is _ABSENT:
        return None  # already reported as missing
    if value is None:
        if attribute.required:
            return error(REQUIRED_NULL, name, f"'{name}' is required and must not be null")
        return None
    if attribute.type == "string":
        if type(value) is not str:
            return error(NOT_A_STRING, name, f"'{name}' must be a string, got a JSON {_json_type(value)}")
    elif attribute.type == "integer":
        if type(value) is not int:
            return error(NOT_AN_INTEGER, name, f"'{name}' must be an integer, got a JSON {_json_type(value)}")
        if not INTEGER_MIN <= value <= INTEGER_MAX:
            return error(INTEGER_OUT_OF_RANGE, name, f"'{name}' = {value} is outside the 64-bit integer range")
    elif attribute.type == "boolean":
        if type(value) is not bool:
            return error(NOT_A_BOOLEAN, name, f"'{name}' must be a JSON true or false, got {_excerpt(value)}")
    else:
        if type(value) is not str or not _TIMESTAMP_SHAPE.fullmatch(value):
            return error(
                TIMESTAMP_FORMAT, name, f"'{name}' must be a string 'YYYY-MM-DD HH:MM:SS', got {_excerpt(value)}"
            )
        if not _is_timestamp(value):
            return error(TIMESTAMP_NOT_A_DATE, name, f"'{name}' = {value!r} is not a real date and time")
    return None


def _is_timestamp(value: str) -> bool:
    if _TIMESTAMP_SHAPE.fullmatch(value) is None:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _all_timestamps(column: list[Any], *, allow_null: bool) -> bool:
    """Whether every value is a valid timestamp string (or null, if allowed), in a few C-level passes.

    The distinct values are joined into one text that a single regular expression must match whole; the
    expression pins month 01-12, day 01-31, hour 00-23 and minutes/seconds 00-59, so only days 29-31
    can still be wrong for their month, and those few are checked one by one.
    """
    try:
        distinct = set(column)
    except TypeError:  # an unhashable value (list, object)
        return False
    if allow_null:
        distinct.discard(None)
    if not distinct:
        return True
    try:
        text = "\n".join(distinct)
    except TypeError:  # a value that is not a string
        return False
    if text.count("\n") != len(distinct) - 1 or _TIMESTAMP_LINES.fullmatch(text) is None:
        return False  # (a value holding a newline could otherwise pass as two valid lines)
    # every line now has the exact shape, so "-DD " can only be the day at offset 7 of a value; few distinct
    # dates among them, each checked once per process
    return all(map(_is_real_date, {text[m.start() - 7 : m.start() + 3] for m in _LATE_IN_MONTH.finditer(text)}))


@lru_cache(maxsize=65536)
def _is_real_date(date: str) -> bool:
    """Whether ``YYYY-MM-DD`` (already of that shape) is a day of the calendar."""
    try:
        datetime.fromisoformat(date)
    except ValueError:
        return False
    return True


def _check_duplicate_keys(
    rows: Sequence[Any], columns: dict[str, list[Any]], shape: _Shape, errors: dict[int, list[Error]]
) -> None:
    keys = list(zip(*(columns[name] for name in shape.key_names), strict=True))
    try:
        if len(set(keys)) == len(keys):
            return
    except TypeError:  # an unhashable key value, already reported as a type error
        pass
    seen: dict[tuple[Any, ...], int] = {}
    for index, key in enumerate(keys):
        if type(rows[index]) is not dict:
            continue
        try:
            first = seen.setdefault(key, index)
        except TypeError:
            continue
        if first != index:
            errors.setdefault(index, []).append(
                error(DUPLICATE_KEY_IN_REQUEST, shape.key_column, f"same primary key as row {first} of this request")
            )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _excerpt(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else f"a JSON {_json_type(value)}"
    return text if len(text) <= 40 else text[:37] + "..."
