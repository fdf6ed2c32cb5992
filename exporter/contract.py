"""The destination contract: Peak's manufacturing-order object, as its resource page defines it.

One definition serves the exporter (which checks the dbt model against it before sending anything) and
the sandbox API (which validates incoming rows against it). The dbt model `peak_manufacturing_orders`
declares the same columns with an enforced dbt contract; `DUCKDB_TYPES` is what that model must hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ApiType = Literal["string", "integer", "timestamp"]

#: Timestamps travel as text in exactly this form (UTC).
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

DEFAULT_SOLUTION_NAME = "INV_OOTB"
DEFAULT_OBJECT_NAME = "INV_MANUFACTURING_ORDERS_OOTB"
DEFAULT_BASE_URL = "https://service.peak.ai/ingestion-api"
DEFAULT_PATH_TEMPLATE = "/api/v2/ingest/object/{object_name}"
#: The newer guides' path, selectable with --path-template.
ALTERNATE_PATH_TEMPLATE = "/api/v2/objects/{object_name}"
#: Rows per request: the resource page's cap is the default; newer guides let a tenant take up to 2,000
#: (the byte cap, DEFAULT_MAX_BYTES, still applies to every request).
DEFAULT_ROWS_PER_REQUEST = 500
LARGEST_ROWS_PER_REQUEST = 2000
DEFAULT_MAX_BYTES = 1_000_000
DOCUMENTED_RATE_LIMIT_RPS = 50


@dataclass(frozen=True)
class Attribute:
    name: str
    api_type: ApiType
    required: bool

    @property
    def duckdb_type(self) -> str:
        return {"string": "VARCHAR", "integer": "BIGINT", "timestamp": "TIMESTAMP"}[self.api_type]


#: In the order of the resource page's JSON representation.
ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("order_number", "string", True),
    Attribute("product_id", "string", True),
    Attribute("location_id", "string", True),
    Attribute("source_id", "string", True),
    Attribute("ordered_at", "timestamp", True),
    Attribute("ordered_units", "integer", True),
    Attribute("expected_start_date", "timestamp", True),
    Attribute("actual_start_date", "timestamp", False),
    Attribute("expected_end_date", "timestamp", True),
    Attribute("actual_end_date", "timestamp", False),
    Attribute("produced_units", "integer", False),
    Attribute("status", "string", False),
    Attribute("updated_at", "timestamp", True),
)

ATTRIBUTE_NAMES: tuple[str, ...] = tuple(a.name for a in ATTRIBUTES)

#: The resource page's composite primary key.
PRIMARY_KEY: tuple[str, ...] = ("product_id", "location_id", "order_number", "updated_at")

#: Column name -> DuckDB type the contract model must have.
DUCKDB_TYPES: dict[str, str] = {a.name: a.duckdb_type for a in ATTRIBUTES}
