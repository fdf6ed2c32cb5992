"""The destination contract: Peak's manufacturing-order object, as its resource page defines it.

:class:`ObjectContract` is the value every stage of the export takes (the model check, the decision, the
batching, the ledger), so the object's columns and key columns are listed here once, in one order, and
nothing else types them. The dbt model `peak_manufacturing_orders` declares the same columns with an
enforced dbt contract; :attr:`ObjectContract.duckdb_types` is what that model must hold. The sandbox API
still validates rows with this module (it is to get a contract of its own).
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


@dataclass(frozen=True)
class ObjectContract:
    """One Peak object as the export sees it: its attributes in the API's order and its primary key.

    ``version_column`` is the key column that tells versions of one record apart (a changed order arrives
    with a new ``updated_at``, so a new key, but it is the same order): the record's identity is the key
    without it, and the ledger keeps the last acknowledged content per identity.
    """

    object_name: str
    attributes: tuple[Attribute, ...]
    primary_key: tuple[str, ...]
    version_column: str | None

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes)

    @property
    def duckdb_types(self) -> dict[str, str]:
        return {a.name: a.duckdb_type for a in self.attributes}

    @property
    def identity(self) -> tuple[str, ...]:
        """The key without the version column: one record across its versions."""
        return tuple(c for c in self.primary_key if c != self.version_column)

    @property
    def timestamps(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes if a.api_type == "timestamp")

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes if a.required)

    def attribute(self, name: str) -> Attribute:
        return next(a for a in self.attributes if a.name == name)


MANUFACTURING_ORDERS = ObjectContract(
    object_name=DEFAULT_OBJECT_NAME,
    attributes=ATTRIBUTES,
    primary_key=PRIMARY_KEY,
    version_column="updated_at",
)
