"""`mo-export check`: verify settings, build, model and destination without sending or writing anything."""

from __future__ import annotations

from pathlib import Path

import click

from exporter.cli.options import build_target_options, one_object_option

_EXIT_CODES = """\b
Exit codes (as `run` would end for the same answer):
  0   success: every check passed (skips allowed)
  1   finished, but the API rejected the sample row (or refused the one-row request)
  2   delivery failed: no answer, 429/5xx, or a 2xx that is not the API's acknowledgement
      (a run would retry it and leave the rows pending)
  3   configuration, authentication, build, model or schema error: a setting, the DuckDB
      file, the build, the model table, the token (401/403), the object (404 or another
      4xx), a redirect (the Location is named) or an untrusted TLS certificate
  70  internal error (a bug): report it with the log
"""


@click.command("check", epilog=_EXIT_CODES)
@click.option("--base-url", help="API base URL (PEAK_BASE_URL).")
@click.option("--path-template", help="Path after the base URL with {object_name} (PEAK_PATH_TEMPLATE).")
@click.option("--solution-name", help="Solution the object belongs to (PEAK_SOLUTION_NAME).")
@click.option("--object-name", help="Destination object (PEAK_OBJECT_NAME).")
@click.option("--duckdb-path", type=click.Path(dir_okay=False, path_type=Path), help="DuckDB file (MO_DUCKDB_PATH).")
@build_target_options
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
              help="dbt project directory (MO_DBT_PROJECT_DIR).")
@click.option("--target-path", type=click.Path(file_okay=False, path_type=Path),
              help="dbt target directory with manifest.json (MO_DBT_TARGET_PATH).")
@one_object_option
@click.option("--model-name", help="dbt model to export. Default peak_manufacturing_orders.")
@click.option("--state-schema", help="Schema of the export state. Default mo_export_state.")
@click.option("--batch-size", type=int, help="Rows per request, checked as `run` would (MO_BATCH_SIZE).")
@click.option("--max-bytes", type=int, help="Bytes per request body (MO_MAX_BYTES).")
@click.option("--timeout", "timeout_seconds", type=float,
              help="Seconds for the whole of each check request: connect, send, wait and read (MO_TIMEOUT_SECONDS).")
@click.option("--ca-bundle", type=click.Path(dir_okay=False, path_type=Path),
              help="CA certificates to trust for the API's TLS certificate (MO_CA_BUNDLE).")
@click.option("--allow-insecure-http", is_flag=True, default=None,
              help="Allow plain http to a non-loopback host (MO_ALLOW_INSECURE_HTTP).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def check_command(as_json: bool, **flags: object) -> int:
    """Check settings, DuckDB file, dbt build, model and destination (one "dryRun": true request, nothing
    stored, judged as a run judges a batch) and, where the API describes its schema, the contract
    against it.
    """
    from exporter.preflight import run_checks

    if flags.get("allow_insecure_http") is False:
        flags["allow_insecure_http"] = None
    report = run_checks(flags)
    click.echo(report.to_json() if as_json else report.render_text())
    return report.exit_code
