"""The shape of a destination object as the export sees it: :class:`ObjectContract` and its parts.

No object is defined here. Each object's contract is read from the dbt project
(:mod:`exporter.object_contracts`): the columns, types and required columns from its model's enforced dbt
contract, the object name, key and references from the model's ``meta.peak``. :class:`ObjectContract` is the
value every stage of the export takes (the model check, the decision, the batching, the ledger), so an
object's columns and key columns are listed once, in one order. The module also holds the resource page's
defaults (URL, path, limits), which are the same for every object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ApiType = Literal["string", "integer", "timestamp", "boolean"]

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
#: an attribute's API type -> the DuckDB type its model column must have
DUCKDB_TYPES: dict[str, str] = {"string": "VARCHAR", "integer": "BIGINT", "timestamp": "TIMESTAMP",
                                "boolean": "BOOLEAN"}


@dataclass(frozen=True)
class Attribute:
    name: str
    api_type: ApiType
    required: bool

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.api_type]


#: how a reference is checked: the parent record acknowledged by the destination (the parent is an exported
#: object), or only present in the parent model (a table the job does not send, such as a product master)
ReferenceCheck = Literal["acknowledged", "present"]


@dataclass(frozen=True)
class Reference:
    """A column whose value names a record of another model (a foreign key the platform checks later).

    A row is sent only once the parent record is there with every ``require`` value (e.g.
    ``{"is_factory": True}``): acknowledged by the destination (``check="acknowledged"``, the parent an
    exported object) or present in the parent model (``check="present"``). Until then it is held (pending,
    with the reason)."""

    column: str
    #: the parent's dbt model
    model: str
    parent_column: str
    require: tuple[tuple[str, bool | str | int], ...] = ()
    check: ReferenceCheck = "acknowledged"

    def describe(self) -> str:
        """E.g. ``location_id (peak_locations.location_id, with is_factory = true)``."""
        wanted = "".join(f", with {name} = {str(value).lower()}" for name, value in self.require)
        return f"{self.column} ({self.model}.{self.parent_column}{wanted})"


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
    #: the dbt model that holds the object's rows
    model_name: str = ""
    references: tuple[Reference, ...] = ()

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

