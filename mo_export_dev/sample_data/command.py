"""`python -m mo_export_dev.sample_data`: write deterministic raw MES tables into the DuckDB file
(docs/sample-data.md)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("sample-data")
@click.option("--orders", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="How many distinct production orders to generate.")
@click.option("--seed", type=int, default=42, show_default=True, help="Same seed, same data.")
@click.option("--duckdb-path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="DuckDB file to write. Default: MO_DUCKDB_PATH, else mo_export.duckdb.")
@click.option("--raw-schema", default="raw", show_default=True, help="Schema of the raw tables (dbt var raw_schema).")
@click.option("--parquet-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write the raw tables as Parquet under DIR/<table>/ (MO_RAW_PARQUET_DIR of the spark target).")
def sample_data_command(
    orders: int, seed: int, duckdb_path: Path | None, raw_schema: str, parquet_dir: Path | None
) -> None:
    """Generate realistic raw MES tables (orders, confirmations, materials, plants) with a small share of
    bad rows that hit every rejection code."""
    from exporter.settings import duckdb_path_from_environment
    from mo_export_dev.sample_data import generate

    path = duckdb_path or duckdb_path_from_environment()
    summary = generate(path, orders=orders, seed=seed, raw_schema=raw_schema)
    click.echo(summary.describe())
    if parquet_dir is not None:
        from mo_export_dev.sample_data.parquet import write_raw_parquet

        rows = write_raw_parquet(path, parquet_dir, raw_schema=raw_schema)
        click.echo(f"raw tables as Parquet under {parquet_dir}: " + ", ".join(f"{t} {n:,}" for t, n in rows.items()))
