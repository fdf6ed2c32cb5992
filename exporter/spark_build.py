"""The Spark build, seen from DuckDB: its contract model and build verdict as views over its Parquet files.

`dbt build --target spark` stores every table as plain Parquet files under the Spark warehouse folder
(``MO_SPARK_WAREHOUSE``), one folder per table: ``<warehouse>/<schema>.db/<table>/part-*.parquet``.
The project's on-run-end hook writes the build verdict on Spark too, as the table
``mo_export_build.node_results``. The export of a Spark build opens its local DuckDB state file and
(re)creates two views in it over those folders, with the names the model and the verdict have on
DuckDB. Everything after that, the verdict guard, the contract and value checks, the diff against the
state and the delivery, is the very code that exports a DuckDB build.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from exporter.build_verdict import VERDICT_SCHEMA
from exporter.dbt_artifacts import ModelRelation
from exporter.errors import BuildError
from exporter.warehouse import create_parquet_view

log = logging.getLogger(__name__)

VERDICT_IDENTIFIER = "node_results"


def table_folder(warehouse: Path, schema: str, identifier: str) -> Path:
    """Where Spark's session catalog keeps a managed table: a ``<schema>.db`` folder per database."""
    return warehouse / f"{schema}.db" / identifier


def expose_spark_build(con: duckdb.DuckDBPyConnection, warehouse: Path, relation: ModelRelation) -> None:
    """Create the model's and the verdict's views in ``con``'s file; refuse a warehouse without them."""
    if not warehouse.is_dir():
        raise BuildError(
            f"Spark warehouse {warehouse} (--spark-warehouse / MO_SPARK_WAREHOUSE) is not a folder: point it at "
            "the MO_SPARK_WAREHOUSE `dbt build --target spark` used, or run that build first"
        )
    tables = (
        (relation.schema, relation.identifier, "the contract model"),
        (VERDICT_SCHEMA, VERDICT_IDENTIFIER, "the build verdict"),
    )
    for schema, identifier, what in tables:
        folder = table_folder(warehouse, schema, identifier)
        if not any(folder.glob("*.parquet")):
            raise BuildError(
                f"no Parquet files of {what} ({schema}.{identifier}) under {folder}: run `dbt build --target "
                "spark` with the same MO_SPARK_WAREHOUSE (--spark-warehouse), then export"
            )
        create_parquet_view(con, schema, identifier, folder)
    log.info("reading the Spark build under %s", warehouse, extra={"event": "spark_build_exposed"})
