"""`mo-export plan`: what the next run would send, without sending and without writing state."""

from __future__ import annotations

from pathlib import Path

import click

from exporter.cli.options import one_object_option


@click.command("plan")
@click.option("--base-url", help="API base URL (PEAK_BASE_URL). Default: the resource page's host.")
@click.option("--path-template", help="Path after the base URL with {object_name} (PEAK_PATH_TEMPLATE).")
@click.option("--solution-name", help="Solution the object belongs to (PEAK_SOLUTION_NAME). Default INV_OOTB.")
@click.option("--object-name", help="Destination object (PEAK_OBJECT_NAME). Default INV_MANUFACTURING_ORDERS_OOTB.")
@click.option("--duckdb-path", type=click.Path(dir_okay=False, path_type=Path),
              help="DuckDB file dbt built (MO_DUCKDB_PATH). Default mo_export.duckdb.")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), help="dbt project directory.")
@click.option("--target-path", type=click.Path(file_okay=False, path_type=Path), help="dbt target directory.")
@one_object_option
@click.option("--model-name", help="dbt model to export. Default peak_manufacturing_orders.")
@click.option("--state-schema", help="Schema of the export state. Default mo_export_state.")
@click.option("--full-refresh", is_flag=True, help="Plan a run that sends every row.")
@click.option("--retry-rejected", is_flag=True, help="Plan a run that also re-sends rows rejected before.")
@click.option("--max-change-share", type=float, help="The change guard's limit (MO_MAX_CHANGE_SHARE). Default 0.5.")
@click.option("--max-loss-share", type=float, help="The loss guard's limit (MO_MAX_LOSS_SHARE). Default 0.2.")
@click.option("--new-tenant", is_flag=True, help="Plan as `run --new-tenant`: another tenant at a known URL.")
@click.option("--token-rotated", is_flag=True, help="Plan as `run --token-rotated`: the known destination's ledger.")
@click.option("--examples", type=click.IntRange(0, 100), default=3, show_default=True,
              help="Example orders per changed attribute.")
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write the plan file that `mo-export run --plan` sends exactly.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan_command(examples: int, out: Path | None, as_json: bool, **flags: object) -> int:
    """Show what the next run would send: new, changed (per attribute, with examples), unchanged and
    rejected rows, and whether the change guard would refuse it. Sends nothing, writes no state."""
    from exporter.preview import make_plan, render_plan
    from exporter.settings import load_settings

    settings = load_settings({**flags, "dry_run": True})
    if out is not None:
        from exporter.output_paths import check_output_path

        check_output_path(out, "plan --out")
    view = make_plan(settings, examples=examples, out=out)
    if out is None or str(out) != "-":  # `--out -` makes stdout the plan file alone
        click.echo(view.to_json() if as_json else render_plan(view))
    return 0
