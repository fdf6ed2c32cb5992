"""`mo-export status`: the last runs, what is pending and what stays rejected."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("status")
@click.option("--duckdb-path", type=click.Path(dir_okay=False, path_type=Path),
              help="DuckDB file (MO_DUCKDB_PATH). [default: mo_export.duckdb]")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
              help="dbt project directory (MO_DBT_PROJECT_DIR). [default: the current directory]")
@click.option("--target-path", type=click.Path(file_okay=False, path_type=Path),
              help="dbt target directory (MO_DBT_TARGET_PATH). [default: <project-dir>/target]")
@click.option("--state-schema", help="Schema of the export state. [default: mo_export_state]")
@click.option("--runs", "limit", type=click.IntRange(1, 1000), default=5, show_default=True, help="Runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(limit: int, as_json: bool, **flags: object) -> int:
    """Show the last export runs, the rows waiting to be sent and the rows the API rejected."""
    from exporter.settings import load_settings
    from exporter.status import collect_status, render_status

    settings = load_settings({**flags, "dry_run": True})
    status = collect_status(settings, limit=limit)
    click.echo(status.to_json() if as_json else render_status(status))
    return 0
