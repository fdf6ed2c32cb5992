"""`mo-export <command> --help` tells the real defaults and the exit codes; docs/ lists every flag: docs/cli.md the
product's commands, docs/sandbox.md and docs/sample-data.md the development tools'."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from exporter.cli import _register_commands, cli
from exporter.settings import load_settings
from mo_export_dev.sample_data.command import sample_data_command
from mo_export_dev.sandbox.command import sandbox_command
from tests.export_support import a_plan, a_summary

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: the page whose option table lists each command's flags
OPTION_PAGES = {"run": "cli.md", "status": "cli.md", "check": "cli.md", "plan": "cli.md", "sandbox": "sandbox.md",
                "sample-data": "sample-data.md"}


def help_text(*command: str) -> str:
    _register_commands()
    result = CliRunner().invoke(cli, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # click wraps lines: compare on single spaces


def test_run_help_shows_every_default_the_settings_apply() -> None:
    text = help_text("run")
    defaults = load_settings({"dry_run": True}, environ={})

    for expected in (
        f"PEAK_BASE_URL). [default: {defaults.base_url}]",
        f"[default: {defaults.path_template}]",
        f"[default: {defaults.solution_name}]",
        # the destination is each object's own (its model's meta.peak), PEAK_OBJECT_NAME renames the main one's
        "(PEAK_OBJECT_NAME). [default: its model's meta.peak.object_name]",
        "[default: every object of the dbt project (models with meta.peak), parents first]",
        f"[default: {defaults.duckdb_path}]",
        f"[default: {defaults.model_name}]",
        f"[default: {defaults.state_schema}]",
        f"(MO_BATCH_SIZE). [default: {defaults.batch_size}]",
        f"(MO_MAX_BYTES). [default: {defaults.max_bytes}]",
        f"(MO_CONCURRENCY). [default: {defaults.concurrency}]",
        f"(MO_MAX_RPS). [default: {defaults.max_rps:g}]",
        f"(MO_TIMEOUT_SECONDS). [default: {defaults.timeout_seconds:g}]",
        f"(MO_MAX_ATTEMPTS). [default: {defaults.max_attempts}]",
        f"(MO_RETRY_BUDGET_SECONDS). [default: {defaults.retry_budget_seconds:g}]",
    ):
        assert expected in text
    assert "resource page" not in text


def test_run_help_lists_every_exit_code() -> None:
    text = help_text("run")

    codes = re.findall(r"(?:^|\s)(0|1|2|3|70)\s{1,3}(?:success|finished|delivery failed|configuration|internal)", text)
    assert codes == ["0", "1", "2", "3", "70"]


def test_check_help_lists_the_same_exit_codes_as_run() -> None:
    text = help_text("check")

    codes = re.findall(r"(?:^|\s)(0|1|2|3|70)\s{1,3}(?:success|finished|delivery failed|configuration|internal)", text)
    assert codes == ["0", "1", "2", "3", "70"]
    assert "a 2xx that is not the API's acknowledgement" in text
    assert "(MO_TIMEOUT_SECONDS)" in text and "connect, send, wait and read" in text


def _command(name: str) -> click.Command:
    """A command of the product's CLI, or one of the development tools (python -m mo_export_dev.<tool>)."""
    _register_commands()
    return {"sample-data": sample_data_command, "sandbox": sandbox_command, **cli.commands}[name]


@pytest.mark.parametrize("command", sorted(OPTION_PAGES))
def test_the_option_table_in_docs_lists_every_flag_of_the_command(command: str) -> None:
    page = (DOCS / OPTION_PAGES[command]).read_text()
    section = page[page.index(f"<!-- options: {command} -->"):]
    section = section[: section.index("<!-- /options -->")]
    flags = {
        flag
        for param in _command(command).params
        if isinstance(param, click.Option)
        for flag in (*param.opts, *param.secondary_opts)
        if flag.startswith("--") and flag != "--help"
    }

    missing = sorted(f for f in flags if f"`{f}`" not in section)
    assert len(flags) >= 4
    assert missing == []


def test_every_command_of_the_product_has_an_option_table() -> None:
    _register_commands()
    assert sorted(cli.commands) == sorted(c for c, page in OPTION_PAGES.items() if page == "cli.md")


def test_the_global_options_table_lists_every_global_flag() -> None:
    page = (DOCS / "cli.md").read_text()
    section = page[page.index("| global flag |"):]
    section = section[: section.index("\n\n")]
    flags = {flag for param in cli.params if isinstance(param, click.Option) for flag in param.opts}
    assert sorted(f for f in flags if f"`{f}`" not in section) == []


def dry_run_summary(*, to_send: int, unchanged: int, payload_dir: str | None, full_refresh: bool = False) -> str:
    plan = a_plan(considered=to_send + unchanged, to_send=to_send, unchanged=unchanged, full_refresh=full_refresh)
    return a_summary(plan, dry_run=True, payload_dir=payload_dir, would_send=to_send).render_text()


def test_dry_run_summary_says_what_would_go_and_shows_no_request_counters() -> None:
    text = dry_run_summary(to_send=19_700, unchanged=0, payload_dir="/tmp/payloads")

    assert text.splitlines()[0] == "dry run: nothing was sent and the export state was not changed (exit code 0)"
    assert re.search(r"rows a run would send\s+19,700\s+in 40 batches", text)
    assert "request bodies                  40  written to /tmp/payloads" in text
    for wording in ("dry-run (dry-run)", "requests ", "still pending", "--full-refresh"):
        assert wording not in text


def test_dry_run_with_nothing_changed_points_at_full_refresh() -> None:
    text = dry_run_summary(to_send=0, unchanged=19_700, payload_dir="/tmp/payloads")

    assert re.search(r"rows a run would send\s+0\s+in 0 batches", text)
    assert "nothing changed since the last run, so there is nothing to send or write: add --full-refresh" in text


def test_dry_run_with_full_refresh_does_not_suggest_it_again() -> None:
    text = dry_run_summary(to_send=0, unchanged=0, payload_dir=None, full_refresh=True)

    assert "--full-refresh" not in text


def test_status_help_documents_the_key_syntax_every_json_key_and_the_exit_codes() -> None:
    from exporter.lookup import DestinationAnswer, KeyAnswer, KeyQuery

    text = help_text("status")
    answer = KeyAnswer(KeyQuery("4711"), False, (), (), ())

    assert "--key 4711 every record with order number 4711" in text
    assert "--key 4711 --product-id P-1 --location-id L-1 the record (product, location, order)" in text
    keys = text[text.index("--json keys (stable):"):text.index("Exit codes:")]
    documented = set(re.findall(r"[a-z_]+", keys))
    assert set(answer.as_dict()) <= documented
    assert set(DestinationAnswer(1, "x", True).as_dict()) <= documented
    codes = re.findall(r"(?:^|\s)(0|1|2|3|70)\s{1,3}(?:answered|the DuckDB file is busy|configuration|internal)",
                       text)
    assert codes == ["0", "2", "3", "70"]


@pytest.mark.parametrize("command", ["status", "check"])
def test_status_and_check_take_the_spark_target_like_run(command: str) -> None:
    text = help_text(command)

    assert "(MO_DBT_TARGET). [default: dev]" in text
    assert "(MO_SPARK_WAREHOUSE). [default: spark-warehouse]" in text
    assert "--state-path FILE With --target spark: the local DuckDB file of the export state (MO_STATE_PATH)" in text
