"""Options that several sub-commands share, declared once so their names and help cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from exporter.settings import DEFAULT_SPARK_WAREHOUSE, DEFAULT_STATE_FILE

F = TypeVar("F", bound=Callable[..., object])


def build_target_options(command: F) -> F:
    """`--target`, `--spark-warehouse` and `--state-path`: which build the command reads and where its state is."""
    options = [
        click.option("--target", help="dbt target that built the model: dev (the DuckDB file) or spark (its Parquet "
                     "files under --spark-warehouse, state in --state-path) (MO_DBT_TARGET). [default: dev]"),
        click.option("--spark-warehouse", type=click.Path(file_okay=False, path_type=Path),
                     help="With --target spark: the MO_SPARK_WAREHOUSE the Spark build wrote (MO_SPARK_WAREHOUSE). "
                     f"[default: {DEFAULT_SPARK_WAREHOUSE}]"),
        click.option("--state-path", type=click.Path(dir_okay=False, path_type=Path),
                     help="With --target spark: the local DuckDB file of the export state (MO_STATE_PATH), where "
                     f"the Spark build's tables are exposed as views. [default: <project-dir>/{DEFAULT_STATE_FILE}]"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


#: the one object a command is about (`plan`, `check`, `status`): a dbt model with meta.peak
one_object_option = click.option(
    "--object", "object",
    help="The object to look at: the dbt model that holds it, e.g. peak_locations. [default: "
    "the manufacturing orders (--model-name)]")
