"""`mo-export run`: deliver the contract model to the ingestion API."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from exporter import contract
from exporter.cli.options import build_target_options
from exporter.settings import (
    DEFAULT_DUCKDB_PATH,
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_MODEL_NAME,
    DEFAULT_STATE_SCHEMA,
)

_EXIT_CODES = """\b
Exit codes:
  0   success: every row to send was acknowledged (or nothing had changed)
  1   finished, but the API rejected some rows (see mo_export_state.rejections)
  2   delivery failed (API unreachable, retry budget spent, stopped by SIGTERM/SIGINT, disk
      full, out of memory, DuckDB file locked): unacknowledged rows stay pending; re-run later
  3   configuration, authentication, build, value or read-only-file error: the message names
      the setting or file
  70  internal error (a bug): report it with the log
Of several objects, the worst code; a parent ending 2 or worse leaves the rest unstarted.
"""


@click.command("run", epilog=_EXIT_CODES)
@click.option("--base-url", help=f"API base URL (PEAK_BASE_URL). [default: {contract.DEFAULT_BASE_URL}]")
@click.option("--path-template", help="Path after the base URL, with {object_name} (PEAK_PATH_TEMPLATE), e.g. "
              f"{contract.ALTERNATE_PATH_TEMPLATE}. [default: {contract.DEFAULT_PATH_TEMPLATE}]")
@click.option("--solution-name",
              help=f"Solution the object belongs to (PEAK_SOLUTION_NAME). [default: {contract.DEFAULT_SOLUTION_NAME}]")
@click.option("--object", "object",
              help="Export only this object: the dbt model that holds it, e.g. peak_locations. [default: every "
              "object of the dbt project (models with meta.peak), parents first]")
@click.option("--object-name",
              help="Destination object of the --model-name object (PEAK_OBJECT_NAME). [default: its model's "
              "meta.peak.object_name]")
@click.option("--duckdb-path", type=click.Path(dir_okay=False, path_type=Path),
              help=f"DuckDB file dbt built (MO_DUCKDB_PATH). [default: {DEFAULT_DUCKDB_PATH}]")
@build_target_options
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
              help="dbt project directory (MO_DBT_PROJECT_DIR). [default: the current directory]")
@click.option("--target-path", type=click.Path(file_okay=False, path_type=Path),
              help="dbt target directory with manifest.json (MO_DBT_TARGET_PATH). "
              "[default: <project-dir>/target]")
@click.option("--model-name", help="The main object's dbt model: it keeps the unsuffixed state schema and results "
              f"file, and --object-name names its destination. [default: {DEFAULT_MODEL_NAME}]")
@click.option("--state-schema",
              help=f"Schema of the export state in the DuckDB file. [default: {DEFAULT_STATE_SCHEMA}]")
@click.option("--batch-size", type=int,
              help=f"Rows per request, at most {contract.LARGEST_ROWS_PER_REQUEST} where the tenant allows it (the "
              "object's documented limit is the default); the byte cap still applies (MO_BATCH_SIZE). "
              f"[default: {contract.DEFAULT_ROWS_PER_REQUEST}]")
@click.option("--max-bytes", type=int,
              help=f"Bytes per request body (MO_MAX_BYTES). [default: {contract.DEFAULT_MAX_BYTES}]")
@click.option("--concurrency", type=int, help="Requests in flight, 1-64 (MO_CONCURRENCY). [default: 4]")
@click.option("--max-rps", type=float, help="Client-side requests per second, shared by all requests (MO_MAX_RPS). "
              f"[default: {contract.DOCUMENTED_RATE_LIMIT_RPS}]")
@click.option("--timeout", "timeout_seconds", type=float,
              help="Seconds per request (MO_TIMEOUT_SECONDS). [default: 30]")
@click.option("--max-attempts", type=int, help="Failed attempts (5xx, timeout, dropped connection) per batch before "
              "giving up (MO_MAX_ATTEMPTS). [default: 8]")
@click.option("--retry-budget", "retry_budget_seconds", type=float,
              help="Seconds a batch may spend retrying and waiting out 429s (MO_RETRY_BUDGET_SECONDS). [default: 600]")
@click.option("--ca-bundle", type=click.Path(dir_okay=False, path_type=Path),
              help="CA certificates to trust for the API's TLS certificate (MO_CA_BUNDLE). [default: system CAs]")
@click.option("--allow-insecure-http", is_flag=True, default=None,
              help="Allow plain http to a non-loopback host (MO_ALLOW_INSECURE_HTTP). [default: off]")
@click.option("--full-refresh", is_flag=True, help="Send every row, not only new or changed ones.")
@click.option("--retry-rejected", is_flag=True, help="Also re-send rows the API rejected before, unchanged.")
@click.option("--dry-run", is_flag=True, help="Build and check the requests; send nothing, change no state. Counts "
              "only new or changed rows: add --full-refresh for every row.")
@click.option("--payload-dir", type=click.Path(file_okay=False, path_type=Path),
              help="With --dry-run: write each request body to this folder.")
@click.option("--api-dry-run", is_flag=True, help="Send with dryRun: true (the API validates, stores nothing); "
              "no state changes.")
@click.option("--results-path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Where to write the JSON summary; - for stdout, one JSON line per object. [default: "
              "<target-path>/export_results.json; other objects' beside it, .<model> before .json]")
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Send exactly the rows of this reviewed plan file (`mo-export plan --out`); refused if the "
              "model or destination no longer match it.")
@click.option("--max-change-share", type=float, help="Refuse a run changing more than this share of the orders "
              "acknowledged before (MO_MAX_CHANGE_SHARE). [default: 0.5]")
@click.option("--max-loss-share", type=float, help="Refuse a run when more than this share of the orders "
              "acknowledged before left the model (MO_MAX_LOSS_SHARE). [default: 0.2]")
@click.option("--allow-large-change", is_flag=True, help="Allow this run once although the change guard refuses it.")
@click.option("--new-tenant", is_flag=True, help="This destination is another tenant than the known one at the same "
              "base URL and object: its first run sends every row.")
@click.option("--token-rotated", is_flag=True, help="The token was rotated: the known destination with the same URL, "
              "path, object and solution moves to this token, with its ledger (nothing is re-sent).")
@click.option("--memory-limit", help="DuckDB memory for the export's queries, which spill to MO_DUCKDB_TEMP_DIR "
              f"beyond it (MO_EXPORT_MEMORY_LIMIT). [default: {DEFAULT_MEMORY_LIMIT}]")
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="Progress bar on stderr. [default: on when stderr is a terminal]")
def run_command(**flags: object) -> int:
    """Send new and changed rows of every object (Locations, then Manufacturing Orders) to the ingestion API
    in batched UPSERT calls. An order whose location is not acknowledged as a factory is held (pending).

    Flags win over environment variables (in brackets), which win over the defaults. The token comes
    from PEAK_API_KEY only (a --dry-run needs none). The exit code is the worst of the objects'.
    """
    from exporter.logging_setup import json_lines, mask_in_logs, say_error
    from exporter.pipeline import run_exports, worst_exit_code
    from exporter.report import RunSummary
    from exporter.settings import load_settings

    if flags.get("show_progress") is None:  # a bar is not a JSON line: none under --log-format json
        flags["show_progress"] = sys.stderr.isatty() and not json_lines()
    if flags.get("allow_insecure_http") is False:
        flags["allow_insecure_http"] = None
    settings = load_settings(flags)
    if settings.api_key is not None:
        mask_in_logs(settings.api_key.reveal())
    def show(summary: RunSummary) -> None:
        if str(settings.results_path) != "-":  # `--results-path -` makes stdout the JSON summaries alone
            click.echo(summary.render_text())
        if summary.error:  # a failed delivery (exit 2) must say why where errors go, not only in the summary
            say_error(f"error: {summary.error}")

    return worst_exit_code(run_exports(settings, on_summary=show))
