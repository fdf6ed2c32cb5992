"""`mo-export run`: deliver the contract model to the ingestion API."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("run")
@click.option("--base-url", help="API base URL (PEAK_BASE_URL). Default: the resource page's host.")
@click.option("--path-template", help="Path after the base URL with {object_name} (PEAK_PATH_TEMPLATE).")
@click.option("--solution-name", help="Solution the object belongs to (PEAK_SOLUTION_NAME). Default INV_OOTB.")
@click.option("--object-name", help="Destination object (PEAK_OBJECT_NAME). Default INV_MANUFACTURING_ORDERS_OOTB.")
@click.option("--duckdb-path", type=click.Path(dir_okay=False, path_type=Path),
              help="DuckDB file dbt built (MO_DUCKDB_PATH). Default mo_export.duckdb.")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
              help="dbt project directory (MO_DBT_PROJECT_DIR). Default: current directory.")
@click.option("--target-path", type=click.Path(file_okay=False, path_type=Path),
              help="dbt target directory with manifest.json (MO_DBT_TARGET_PATH). Default <project-dir>/target.")
@click.option("--model-name", help="dbt model to export. Default peak_manufacturing_orders.")
@click.option("--state-schema", help="Schema of the export state in the DuckDB file. Default mo_export_state.")
@click.option("--batch-size", type=int, help="Rows per request, at most 500 (MO_BATCH_SIZE). Default 500.")
@click.option("--max-bytes", type=int, help="Bytes per request body (MO_MAX_BYTES). Default 1000000.")
@click.option("--concurrency", type=int, help="Requests in flight (MO_CONCURRENCY). Default 4.")
@click.option("--max-rps", type=float, help="Client-side requests per second (MO_MAX_RPS). Default 50.")
@click.option("--timeout", "timeout_seconds", type=float, help="Seconds per request (MO_TIMEOUT_SECONDS). Default 30.")
@click.option("--max-attempts", type=int, help="Failed attempts per batch before giving up (MO_MAX_ATTEMPTS). "
              "Default 8.")
@click.option("--retry-budget", "retry_budget_seconds", type=float,
              help="Seconds a batch may spend retrying and waiting out 429s (MO_RETRY_BUDGET_SECONDS). Default 600.")
@click.option("--ca-bundle", type=click.Path(dir_okay=False, path_type=Path),
              help="CA certificates to trust for the API's TLS certificate (MO_CA_BUNDLE).")
@click.option("--allow-insecure-http", is_flag=True, default=None,
              help="Allow plain http to a non-loopback host (MO_ALLOW_INSECURE_HTTP).")
@click.option("--full-refresh", is_flag=True, help="Send every row, not only new or changed ones.")
@click.option("--retry-rejected", is_flag=True, help="Also re-send rows the API rejected before, unchanged.")
@click.option("--dry-run", is_flag=True, help="Build and check the requests; send nothing, change no state.")
@click.option("--payload-dir", type=click.Path(file_okay=False, path_type=Path),
              help="With --dry-run: write each request body to this folder.")
@click.option("--api-dry-run", is_flag=True, help="Send with dryRun: true (the API validates, stores nothing); "
              "no state changes.")
@click.option("--results-path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the JSON summary. Default <target-path>/export_results.json.")
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Send exactly the rows of this reviewed plan file (`mo-export plan --out`); refused if the "
              "model or destination no longer match it.")
@click.option("--max-change-share", type=float, help="Refuse a run changing more than this share of the orders "
              "acknowledged before (MO_MAX_CHANGE_SHARE). Default 0.5.")
@click.option("--max-loss-share", type=float, help="Refuse a run when more than this share of the orders "
              "acknowledged before left the model (MO_MAX_LOSS_SHARE). Default 0.2.")
@click.option("--allow-large-change", is_flag=True, help="Allow this run once although the change guard refuses it.")
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="Progress bar on stderr. Default: on when stderr is a terminal.")
def run_command(**flags: object) -> int:
    """Send new and changed manufacturing orders to the ingestion API in batched UPSERT calls.

    Exit codes: 0 success; 1 finished but the API rejected rows; 2 delivery failed, disk full or DuckDB
    file locked (rows stay pending); 3 configuration, authentication, build, value or read-only-file error.
    """
    from exporter.logging_setup import json_lines, mask_in_logs, say_error
    from exporter.runner import run_export
    from exporter.settings import load_settings

    if flags.get("show_progress") is None:  # a bar is not a JSON line: none under --log-format json
        flags["show_progress"] = sys.stderr.isatty() and not json_lines()
    if flags.get("allow_insecure_http") is False:
        flags["allow_insecure_http"] = None
    settings = load_settings(flags)
    if settings.api_key is not None:
        mask_in_logs(settings.api_key.reveal())
    summary = run_export(settings)
    click.echo(summary.render_text())
    if summary.error:  # a failed delivery (exit 2) must say why where errors go, not only in the summary
        say_error(f"error: {summary.error}")
    return summary.exit_code
