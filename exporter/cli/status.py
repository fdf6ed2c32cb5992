"""`mo-export status`: the last runs, what is pending and what stays rejected; with `--key`, one order."""

from __future__ import annotations

from pathlib import Path

import click

from exporter.cli.options import build_target_options, one_object_option

#: the keys of `status --key --json` (exporter.lookup.KeyAnswer.as_dict), documented once
_JSON_KEYS = """\b
--json keys (stable):
  query            order_number, product_id, location_id, updated_at (null: not given)
  known            false when the order is in neither mart nor the ledger
  found_in         subset of ["contract_model", "rejected_mart"]
  model            the contract model's relation (schema.table)
  contract_model   the model's rows, as the API receives them
  rejected_mart    {order, rejection_reasons [codes], row}; rejected_mart_note when unread
  state_exists     whether any export ran against this file
  destinations     one per destination in the ledger (and the settings' one):
    destination_id, destination, settings_destination,
    acknowledged   [{order, content, acknowledged_at, run_id}]
    rows           [{key, state (acknowledged|pending|held), change (new|changed|
                    changed_previous_content_unknown|unchanged), changed_attributes
                    [{attribute, acknowledged, now}], held_by [text]}]
    api_rejections [{key, run_id, rejected_at, http_status, error_code, category,
                    message, column, outstanding}]
    last_run       {run_id, mode, status, exit_code, started_at, finished_at, error}
"""

_EPILOG = f"""\b
With --key, the answer for one order (why it is or is not in Peak), per destination
of the ledger: in the contract model or the rejected mart (with dbt's reasons) or
unknown; the last acknowledged content, when and by which run; pending (new, or
changed: the attributes that differ) or held (a rejection unchanged since, the change
guard); the API's rejections with error code, message and column.

\b
Key syntax:
  --key 4711                                  every record with order number 4711
  --key 4711 --product-id P-1 --location-id L-1
                                              the record (product, location, order)
  ... --updated-at "2026-01-02 10:00:00"      one version (the whole primary key)

{_JSON_KEYS}
\b
Exit codes:
  0   answered (an order no mart or destination knows is an answer: unknown)
  2   the DuckDB file is busy, the disk full or memory short: re-run later
  3   configuration: a bad option, the DuckDB file, dbt's manifest, the state schema
  70  internal error (a bug): report it with the log
"""


@click.command("status", epilog=_EPILOG)
@click.option("--duckdb-path", type=click.Path(dir_okay=False, path_type=Path),
              help="DuckDB file (MO_DUCKDB_PATH). [default: mo_export.duckdb]")
@build_target_options
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
              help="dbt project directory (MO_DBT_PROJECT_DIR). [default: the current directory]")
@click.option("--target-path", type=click.Path(file_okay=False, path_type=Path),
              help="dbt target directory (MO_DBT_TARGET_PATH). [default: <project-dir>/target]")
@one_object_option
@click.option("--state-schema", help="Schema of the export state. [default: mo_export_state]")
@click.option("--runs", "limit", type=click.IntRange(1, 1000), default=5, show_default=True, help="Runs to list.")
@click.option("--key", "order_number", metavar="ORDER_NUMBER",
              help="Answer for this order instead: where it is, per destination, and why (see below).")
@click.option("--product-id", help="With --key: only the order's record with this product_id.")
@click.option("--location-id", help="With --key: only the order's record with this location_id.")
@click.option("--updated-at", metavar="'YYYY-MM-DD HH:MM:SS'",
              help="With --key: only this version of the order (UTC, as the API takes it).")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(limit: int, as_json: bool, order_number: str | None, product_id: str | None,
                   location_id: str | None, updated_at: str | None, **flags: object) -> int:
    """Show the last export runs, the rows waiting to be sent and the rows the API rejected; with --key,
    everything the export knows of one order."""
    from exporter.lookup import KeyQuery, look_up, render_key_answer
    from exporter.settings import load_settings
    from exporter.status import collect_status, render_status

    query = KeyQuery.from_options(order_number, product_id=product_id, location_id=location_id,
                                  updated_at=updated_at)
    settings = load_settings({**flags, "dry_run": True})
    if query is not None:
        answer = look_up(settings, query)
        click.echo(answer.to_json() if as_json else render_key_answer(answer))
        return 0
    status = collect_status(settings, limit=limit)
    click.echo(status.to_json() if as_json else render_status(status))
    return 0
