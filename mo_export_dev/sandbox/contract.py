"""What the sandbox API accepts, written from Peak's manufacturing-orders resource page (see
``docs/destination-api.md``), in the sandbox's own words; and a second object of the solution, Locations
(``INV_LOCATIONS_OOTB``), from the guides that list it (``docs/sandbox.md``).

This module is the sandbox's side of the contract and nothing else's: it imports nothing from the exporter,
and the exporter's :mod:`exporter.contract` is a separate reading of the same page. The two can disagree,
and when they do the sandbox refuses what the exporter sends (``tests/test_sandbox_contract_drift.py``).

Everything a request is checked against lives here: the objects and their columns (type, required), their
primary keys, the limits (rows and bytes per request, requests per second), the operations, the schema
endpoints' paths, the error codes of a failed row and the shapes of the success and error bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from typing import Any, Literal

ColumnType = Literal["string", "integer", "timestamp", "boolean"]

# -- where ---------------------------------------------------------------------------------------------------
SOLUTION = "INV_OOTB"
#: ``{prefix}MANUFACTURING_ORDERS{suffix}`` of the solution above
OBJECT = "INV_MANUFACTURING_ORDERS_OOTB"
OBJECT_STEM = "MANUFACTURING_ORDERS"
#: The resource page's path, then the newer guides'; the sandbox answers both.
INGEST_PATHS = ("/api/v2/ingest/object/{object_name}", "/api/v2/objects/{object_name}")
SOLUTIONS_PATH = "/api/v2/schema/solutions"
TABLES_PATH = "/api/v2/schema/solutions/{solution_name}/tables"

# -- limits --------------------------------------------------------------------------------------------------
#: Rows in one request: 500 on the resource page, up to 2,000 in the newer guides (the sandbox's default,
#: the most a tenant can be given; ``--max-rows 500`` is the resource page's).
ROWS_PER_REQUEST_PAGE = 500
ROWS_PER_REQUEST_MOST = 2000
BYTES_PER_REQUEST = 1_000_000
REQUESTS_PER_SECOND = 50

OPERATIONS = ("UPSERT", "APPEND")


# -- the object ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool


#: In the order of the resource page's JSON representation of a manufacturing order.
COLUMNS: tuple[Column, ...] = (
    Column("order_number", "string", True),
    Column("product_id", "string", True),
    Column("location_id", "string", True),
    Column("source_id", "string", True),
    Column("ordered_at", "timestamp", True),
    Column("ordered_units", "integer", True),
    Column("expected_start_date", "timestamp", True),
    Column("actual_start_date", "timestamp", False),
    Column("expected_end_date", "timestamp", True),
    Column("actual_end_date", "timestamp", False),
    Column("produced_units", "integer", False),
    Column("status", "string", False),
    Column("updated_at", "timestamp", True),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
#: The resource page's composite key (the newer guides drop updated_at; the sandbox keeps the page's).
PRIMARY_KEY: tuple[str, ...] = ("product_id", "location_id", "order_number", "updated_at")

# -- a second object of the solution: Locations, which manufacturing orders reference -------------------------
#: ``{prefix}LOCATIONS{suffix}``, as the guides that list more objects of the solution name it
LOCATIONS_OBJECT = "INV_LOCATIONS_OOTB"
#: In the order the guides list them.
LOCATION_COLUMNS: tuple[Column, ...] = (
    Column("location_id", "string", True),
    Column("location_name", "string", False),
    Column("country", "string", False),
    Column("is_store", "boolean", True),
    Column("is_dc", "boolean", True),
    Column("is_factory", "boolean", True),
    Column("updated_at", "timestamp", True),
)
LOCATION_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in LOCATION_COLUMNS)
LOCATION_PRIMARY_KEY: tuple[str, ...] = ("location_id", "updated_at")


@dataclass(frozen=True)
class ObjectContract:
    """One object's attributes and key; ``name`` is the object name it is served under by default."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    #: row -> tuple of its key values (an itemgetter, fast on the hot path; set from ``primary_key``)
    key_values: Callable[[dict[str, Any]], tuple[Any, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        getter = itemgetter(*self.primary_key) if len(self.primary_key) > 1 else _one_key(self.primary_key[0])
        object.__setattr__(self, "key_values", getter)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def key_column(self) -> str:
        """The ``column`` of an error about the primary key."""
        return ",".join(self.primary_key)


def _one_key(name: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    return partial(_single_key, name)


def _single_key(name: str, row: dict[str, Any]) -> tuple[Any, ...]:
    return (row[name],)


MANUFACTURING_ORDERS = ObjectContract(OBJECT, COLUMNS, PRIMARY_KEY)
LOCATIONS = ObjectContract(LOCATIONS_OBJECT, LOCATION_COLUMNS, LOCATION_PRIMARY_KEY)
#: The objects a sandbox serves unless told otherwise (``--object``).
DEFAULT_OBJECTS: tuple[str, ...] = (OBJECT, LOCATIONS_OBJECT)


def object_contract(object_name: str) -> ObjectContract:
    """The contract of an object the sandbox serves: Locations for its name, manufacturing orders for any
    other name it is configured with (``--object``), as it always was."""
    return LOCATIONS if object_name == LOCATIONS_OBJECT else MANUFACTURING_ORDERS


def is_order_object(object_name: str) -> bool:
    """Whether rows of ``object_name`` are manufacturing orders (every object but Locations)."""
    return object_contract(object_name) is MANUFACTURING_ORDERS

#: How a timestamp travels: text, UTC, whole seconds.
TIMESTAMP_SHAPE = "YYYY-MM-DD HH:MM:SS"
INTEGER_MIN = -(2**63)
INTEGER_MAX = 2**63 - 1

# -- a failed row's errors: code and category (Peak's real codes are not public; these follow DI_E_NNNNN) ---
MISSING_ATTRIBUTE = ("DI_E_00001", "SCHEMA")
UNKNOWN_ATTRIBUTE = ("DI_E_00002", "SCHEMA")
REQUIRED_NULL = ("DI_E_00003", "NULL_CHECK")
NOT_A_STRING = ("DI_E_00004", "DATA_TYPE")
NOT_AN_INTEGER = ("DI_E_00005", "DATA_TYPE")
INTEGER_OUT_OF_RANGE = ("DI_E_00006", "RANGE")
TIMESTAMP_FORMAT = ("DI_E_00007", "FORMAT")
TIMESTAMP_NOT_A_DATE = ("DI_E_00008", "FORMAT")
DUPLICATE_KEY_IN_REQUEST = ("DI_E_00009", "PRIMARY_KEY")
KEY_ALREADY_STORED = ("DI_E_00010", "PRIMARY_KEY")
ROW_NOT_AN_OBJECT = ("DI_E_00011", "SCHEMA")
REFUSED_BY_RULE = ("DI_E_00012", "BUSINESS")
NOT_A_BOOLEAN = ("DI_E_00013", "DATA_TYPE")
#: the ``column`` of an error about the (manufacturing orders') key, and of one about the whole row
KEY_COLUMN = ",".join(PRIMARY_KEY)
WHOLE_ROW = "*"

# -- foreign keys, validated later (``GET /_sandbox/failed-rows``, like the platform's ``_failed_rows`` table) --
#: an order whose location_id is no stored Locations row
LOCATION_NOT_FOUND = "LOCATION_NOT_FOUND"
#: an order whose location's latest version (highest updated_at) has is_factory false
LOCATION_NOT_FACTORY = "LOCATION_NOT_FACTORY"

Error = dict[str, str]
FailedRow = dict[str, Any]


# -- bodies --------------------------------------------------------------------------------------------------
def row_error(kind: tuple[str, str], column: str, message: str) -> Error:
    """One entry of a failed row's ``errors``."""
    code, category = kind
    return {"code": code, "category": category, "message": message, "column": column}


def success_body(request_id: str, accepted: int, failed: list[FailedRow]) -> dict[str, Any]:
    """A 200: ``{"requestId", "accepted", "failed": [{"index", "errors": [...]}]}``, ``index`` being the row's
    position in the request's ``data``."""
    return {"requestId": request_id, "accepted": accepted, "failed": failed}


def error_body(message: str) -> dict[str, str]:
    """Every non-200 answer (400, 401, 403, 404, 413, 429, 5xx): ``{"detail": "..."}``."""
    return {"detail": message}
