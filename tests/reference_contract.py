"""The tests' own reading of the objects' contracts, written from the resource pages.

The exporter reads each object's contract from the dbt project (:mod:`exporter.object_contracts`); the tests
compare what it reads with this reference (tests/test_object_contracts.py), and use it where a test needs an
object's columns without a dbt build.
"""

from __future__ import annotations

from exporter.contract import DEFAULT_OBJECT_NAME, TIMESTAMP_FORMAT, Attribute, ObjectContract, Reference
from exporter.fingerprints import content_hash_sql, identity_hash_sql, key_hash_sql

__all__ = ["DEFAULT_OBJECT_NAME", "TIMESTAMP_FORMAT"]

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
DUCKDB_TYPES: dict[str, str] = {a.name: a.duckdb_type for a in ATTRIBUTES}

LOCATION_REFERENCE = Reference("location_id", "peak_locations", "location_id", (("is_factory", True),))

MANUFACTURING_ORDERS = ObjectContract(
    object_name=DEFAULT_OBJECT_NAME,
    attributes=ATTRIBUTES,
    primary_key=PRIMARY_KEY,
    version_column="updated_at",
    model_name="peak_manufacturing_orders",
    references=(LOCATION_REFERENCE,),
)

LOCATIONS = ObjectContract(
    object_name="INV_LOCATIONS_OOTB",
    attributes=(
        Attribute("location_id", "string", True),
        Attribute("location_name", "string", False),
        Attribute("country", "string", False),
        Attribute("is_store", "boolean", True),
        Attribute("is_dc", "boolean", True),
        Attribute("is_factory", "boolean", True),
        Attribute("updated_at", "timestamp", True),
    ),
    primary_key=("location_id", "updated_at"),
    version_column="updated_at",
    model_name="peak_locations",
)

KEY_HASH_SQL = key_hash_sql(MANUFACTURING_ORDERS)
CONTENT_HASH_SQL = content_hash_sql(MANUFACTURING_ORDERS)
ORDER_HASH_SQL = identity_hash_sql(MANUFACTURING_ORDERS)
