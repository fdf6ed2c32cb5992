"""`mo-export check`: verify settings, build, model and destination without sending or writing anything."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("check")
@click.option("--base-url", help="API base URL (PEAK_BASE_URL).")
@click.option("--path-template", help="Path after the base URL with {object_name} (PEAK_PATH_TEMPLATE).")
@click.option("--solution-name", help="Solution the object belongs to (PEAK_SOLUTION_NAME).")
@click.option("--object-name", help="Destination object (PEAK_OBJECT_NAME).")
@click.option("--duckdb-path", type=click.Path(dir_okay=False, path_type=Path), help="DuckDB file (MO_DUCKDB_PATH).")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
              help="dbt project directory (MO_DBT_PROJECT_DIR).")
@click.option("--target-path", type=click.Path(file_okay=False, path_type=Path),
              help="dbt target directory with manifest.json (MO_DBT_TARGET_PATH).")
@click.option("--model-name", help="dbt model to export. Default peak_manufacturing_orders.")
@click.option("--state-schema", help="Schema of the export state. Default mo_export_state.")
@click.option("--batch-size", type=int, help="Rows per request, checked as `run` would (MO_BATCH_SIZE).")
@click.option("--max-bytes", type=int, help="Bytes per request body (MO_MAX_BYTES).")
@click.option("--timeout", "timeout_seconds", type=float, help="Seconds per check request (MO_TIMEOUT_SECONDS).")
@click.option("--ca-bundle", type=click.Path(dir_okay=False, path_type=Path),
              help="CA certificates to trust for the API's TLS certificate (MO_CA_BUNDLE).")
@click.option("--allow-insecure-http", is_flag=True, default=None,
              help="Allow plain http to a non-loopback host (MO_ALLOW_INSECURE_HTTP).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def check_command(as_json: bool, **flags: object) -> int:
    """Check settings, DuckDB file, dbt build, model and destination (one "dryRun": true request, nothing
    stored) and, where the API describes its schema, the contract against it.

    Exit codes as `run`: 0 every check passed (skips allowed); 1 the API refused the sample row; 2 the
    destination did not answer or answered 429/5xx; 3 configuration, token, object, build or schema.
    """
    from exporter.preflight import run_checks

    if flags.get("allow_insecure_http") is False:
        flags["allow_insecure_http"] = None
    report = run_checks(flags)
    click.echo(report.to_json() if as_json else report.render_text())
    return report.exit_code
