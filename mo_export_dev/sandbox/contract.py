"""What the sandbox API accepts, written from Peak's manufacturing-orders resource page (see
``docs/destination-api.md``), in the sandbox's own words.

This module is the sandbox's side of the contract and nothing else's: it imports nothing from the exporter,
and the exporter's :mod:`exporter.contract` is a separate reading of the same page. The two can disagree,
and when they do the sandbox refuses what the exporter sends (``tests/test_sandbox_contract_drift.py``).

Everything a request is checked against lives here: the object and its columns (type, required), the
primary key, the limits (rows and bytes per request, requests per second), the operations, the schema
endpoints' paths, the error codes of a failed row and the shapes of the success and error bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ColumnType = Literal["string", "integer", "timestamp"]

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
#: the ``column`` of an error about the key, and of one about the whole row
KEY_COLUMN = ",".join(PRIMARY_KEY)
WHOLE_ROW = "*"

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
