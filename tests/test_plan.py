"""`mo-export plan`, `run --plan` and the change guard, against a real build, the real CLI and the sandbox.

* the plan shows what a model change touched, attribute by attribute, and writes nothing;
* a pinned plan is sent exactly, and refused when the model or the destination no longer match it;
* the guard refuses a run that changes or loses too many of the orders acknowledged before.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import pytest

from exporter.ledger import SCHEMA_VERSION
from mo_export_dev.sandbox import SandboxConfig, running_sandbox
from tests.dbt_support import run_dbt_subprocess
from tests.export_support import (
    LOCATIONS_MODEL,
    TOKEN,
    CliResult,
    Project,
    build_sample_project,
    order_stats,
    run_cli,
    sandbox_rows,
)

pytestmark = pytest.mark.slow

ORDERS = 1200
MODEL = "main.peak_manufacturing_orders"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return build_sample_project(tmp_path_factory.mktemp("plan_built"), orders=ORDERS, seed=23)


@pytest.fixture
def project(built: Project, tmp_path: Path) -> Project:
    return built.copy_to(tmp_path / "project")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator:
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "store.sqlite", rate_limit_rps=0)
    with running_sandbox(config) as handle:
        yield handle


def mo_export(project: Project, sandbox, monkeypatch, capsys, *args: str) -> CliResult:
    return run_cli(list(args), project.env(sandbox.base_url), monkeypatch, capsys)


def export(project: Project, sandbox, monkeypatch, capsys, *args: str) -> CliResult:
    return mo_export(project, sandbox, monkeypatch, capsys, "run", "--no-progress", *args)


def export_locations(project: Project, sandbox, monkeypatch, capsys) -> None:
    """Send the Locations alone (`run --object peak_locations`), as the first step of a run does: `plan` and
    `run --plan` are about the orders alone, which are held until their locations are acknowledged."""
    result = export(project, sandbox, monkeypatch, capsys, "--object", LOCATIONS_MODEL)
    assert result.exit_code == 0, result.stderr


def plan_json(project: Project, sandbox, monkeypatch, capsys, *args: str) -> dict:
    result = mo_export(project, sandbox, monkeypatch, capsys, "plan", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return orjson.loads(result.stdout)


def results(project: Project) -> dict:
    return orjson.loads((project.target_path / "export_results.json").read_bytes())


def execute(project: Project, *statements: str) -> None:
    with duckdb.connect(str(project.duckdb_path)) as con:
        for sql in statements:
            con.execute(sql)


def by_order(rows: dict) -> dict:
    """Contract rows keyed by the order (product, location, order number), without updated_at."""
    return {key[:3]: row for key, row in rows.items()}


def state_fingerprint(project: Project) -> list:
    return project.query(
        "select (select count(*) from mo_export_state.runs), (select count(*) from mo_export_state.deliveries),"
        " (select count(*) from mo_export_state.acknowledged_content)")


# -- the plan ---------------------------------------------------------------------------------------------
def test_the_plan_lists_the_attributes_a_model_change_touched_and_writes_nothing(
    project, sandbox, monkeypatch, capsys
) -> None:
    from mo_export_dev.sample_data import simulate_next_extraction

    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    before = by_order(project.contract_rows())
    # the ledger holds exactly what was acknowledged, in typed columns
    content = project.query(f"select * exclude (destination_id, order_hash) from mo_export_state.acknowledged_content"
                            f" except select * from {MODEL}")
    assert content == [] and state_fingerprint(project)[0][2] == len(before)

    changed = set(simulate_next_extraction(project.duckdb_path, changed_orders=25, seed=5))
    rebuild = run_dbt_subprocess(["build"], duckdb_path=project.duckdb_path, target_path=project.target_path)
    assert rebuild.returncode == 0, rebuild.stdout[-3000:]
    after = by_order(project.contract_rows())
    status_changed = {o for o in after if after[o]["status"] != before[o]["status"]}
    assert len(status_changed) >= 3 and {o[2] for o in status_changed} <= changed  # some only confirm progress

    state_before, requests_before = state_fingerprint(project), sandbox.stats()["requests"]
    plan = plan_json(project, sandbox, monkeypatch, capsys)
    counts = plan["counts"]
    assert (counts["to_send"], counts["changed"], counts["new"]) == (25, 25, 0)
    assert counts["unchanged"] == len(after) - 25 and counts["lost_orders"] == 0
    attributes = {a["attribute"]: a for a in plan["changed_attributes"]}
    assert attributes["status"]["rows"] == len(status_changed)
    assert attributes["updated_at"]["rows"] == 25
    examples = attributes["status"]["examples"]
    assert len(examples) == 3
    for example in examples:
        order = (example["product_id"], example["location_id"], example["order_number"])
        assert order in status_changed
        assert (example["before"], example["now"]) == (before[order]["status"], after[order]["status"])
    untouched = {"order_number", "product_id", "location_id", "source_id", "ordered_at", "ordered_units"}
    assert not untouched & attributes.keys()
    assert plan["guard"]["refuses"] is False and plan["guard"]["leaving_rows"] == 25

    text = mo_export(project, sandbox, monkeypatch, capsys, "plan")
    assert text.exit_code == 0, text.stderr
    assert "changed attributes (of 25 changed records)" in text.stdout
    status_line = next(line for line in text.stdout.splitlines() if line.strip().startswith("status"))
    assert status_line.split()[1] == str(len(status_changed))
    assert "guard: ok" in text.stdout
    # nothing sent, nothing written
    assert state_fingerprint(project) == state_before and sandbox.stats()["requests"] == requests_before


# -- the pinned plan --------------------------------------------------------------------------------------
def _change_and_rebuild(project: Project, orders: int, seed: int) -> None:
    from mo_export_dev.sample_data import simulate_next_extraction

    simulate_next_extraction(project.duckdb_path, changed_orders=orders, seed=seed)
    rebuild = run_dbt_subprocess(["build"], duckdb_path=project.duckdb_path, target_path=project.target_path)
    assert rebuild.returncode == 0, rebuild.stdout[-3000:]


def test_a_pinned_plan_is_sent_exactly_and_is_refused_once_it_is_no_longer_the_decision(
    project, sandbox, monkeypatch, capsys, tmp_path
) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    keys_before = set(sandbox_rows(sandbox))
    _change_and_rebuild(project, 20, seed=3)
    plan_path = tmp_path / "reviewed.json"
    plan = plan_json(project, sandbox, monkeypatch, capsys, "--out", str(plan_path))
    pinned = orjson.loads(plan_path.read_bytes())
    assert pinned["destination"]["base_url"] == sandbox.base_url and pinned["model_relation"] == MODEL
    assert pinned["full_refresh"] is False
    assert len(pinned["rows"]) == plan["counts"]["to_send"] == 20
    planned_keys = {tuple(r[:4]) for r in pinned["rows"]}

    result = export(project, sandbox, monkeypatch, capsys, "--plan", str(plan_path))
    assert result.exit_code == 0, result.stderr
    summary = results(project)
    assert summary["mode"] == "pinned-plan" and summary["rows"]["sent"] == 20
    stored = sandbox_rows(sandbox)
    sent_keys = {(k[0], k[1], k[2], k[3]) for k in set(stored) - keys_before}
    assert sent_keys == {(p, loc, o, u) for p, loc, o, u in planned_keys}
    current = project.contract_rows()
    assert all(stored[k] == current[k] for k in sent_keys)

    # sent: the same plan is no longer what a run would send (its rows are acknowledged), so it is refused
    requests = sandbox.stats()["requests"]
    again = export(project, sandbox, monkeypatch, capsys, "--plan", str(plan_path))
    assert again.exit_code == 3 and "20 of its rows are no longer what this build would send" in again.stderr
    assert sandbox.stats()["requests"] == requests


def test_a_pinned_plan_that_is_part_of_the_decision_is_refused(project, sandbox, monkeypatch, capsys, tmp_path) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    _change_and_rebuild(project, 20, seed=3)
    plan_path = tmp_path / "reviewed.json"
    plan_json(project, sandbox, monkeypatch, capsys, "--out", str(plan_path))
    # after the review, other orders change in the model: the plan is now only part of what a run sends
    planned = {r[2] for r in orjson.loads(plan_path.read_bytes())["rows"]}
    others = project.query(
        f"select order_number from {MODEL} where order_number not in ({', '.join(repr(o) for o in planned)})"
        " order by order_number limit 5")
    execute(project, f"update {MODEL} set ordered_units = ordered_units + 1 "
                     f"where order_number in ({', '.join(repr(o[0]) for o in others)})")
    requests = sandbox.stats()["requests"]

    stale = export(project, sandbox, monkeypatch, capsys, "--plan", str(plan_path))
    assert stale.exit_code == 3
    assert "this build would also send 5 rows the plan does not hold" in stale.stderr
    # a plan split into parts (to slip each part under the guard) is refused part by part
    document = orjson.loads(plan_path.read_bytes())
    for part in range(2):
        document["rows"] = orjson.loads(plan_path.read_bytes())["rows"][part::2]
        part_path = tmp_path / f"part-{part}.json"
        part_path.write_bytes(orjson.dumps(document))
        assert export(project, sandbox, monkeypatch, capsys, "--plan", str(part_path)).exit_code == 3
    assert sandbox.stats()["requests"] == requests
    # the orders changed after the review go with the next ordinary run
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    assert results(project)["rows"]["sent"] == 25


def test_a_full_refresh_plan_sends_every_row_it_lists(project, sandbox, monkeypatch, capsys, tmp_path) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    considered = results(project)["rows"]["considered"]
    plan_path = tmp_path / "everything.json"
    plan = plan_json(project, sandbox, monkeypatch, capsys, "--full-refresh", "--out", str(plan_path))
    assert plan["counts"]["to_send"] == considered and orjson.loads(plan_path.read_bytes())["full_refresh"] is True

    result = export(project, sandbox, monkeypatch, capsys, "--plan", str(plan_path))
    assert result.exit_code == 0, result.stderr
    assert results(project)["rows"]["sent"] == results(project)["rows"]["acknowledged"] == considered


def test_a_pinned_plan_is_refused_after_the_model_changed_and_nothing_is_sent(
    project, sandbox, monkeypatch, capsys, tmp_path
) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    _change_and_rebuild(project, 10, seed=4)
    plan_path = tmp_path / "reviewed.json"
    plan_json(project, sandbox, monkeypatch, capsys, "--out", str(plan_path))
    (one,) = orjson.loads(plan_path.read_bytes())["rows"][:1]
    execute(project, f"update {MODEL} set status = 'TECO', produced_units = 0 where order_number = '{one[2]}'")
    requests, runs = sandbox.stats()["requests"], state_fingerprint(project)[0][0]

    result = export(project, sandbox, monkeypatch, capsys, "--plan", str(plan_path))
    assert result.exit_code == 3
    assert f"plan file {plan_path}" in result.stderr
    assert "1 of its rows are no longer what this build would send" in result.stderr
    assert "this build would also send 1 rows the plan does not hold" in result.stderr
    assert sandbox.stats()["requests"] == requests and state_fingerprint(project)[0][0] == runs


def test_a_pinned_plan_for_another_destination_or_a_malformed_one_is_refused(
    project, sandbox, monkeypatch, capsys, tmp_path
) -> None:
    export_locations(project, sandbox, monkeypatch, capsys)
    plan_path = tmp_path / "reviewed.json"
    plan_json(project, sandbox, monkeypatch, capsys, "--out", str(plan_path))
    other = export(project, sandbox, monkeypatch, capsys, "--plan", str(plan_path), "--object-name", "OTHER_OBJECT")
    assert other.exit_code == 3 and "was made for the destination" in other.stderr
    assert "OTHER_OBJECT" in other.stderr

    document = orjson.loads(plan_path.read_bytes())
    document["rows"][7][4] = "not-a-fingerprint"
    plan_path.write_bytes(orjson.dumps(document))
    broken = export(project, sandbox, monkeypatch, capsys, "--plan", str(plan_path))
    assert broken.exit_code == 3
    assert f"plan file {plan_path}: row 8: content_fingerprint 'not-a-fingerprint'" in broken.stderr
    plan_path.write_text("{not json")
    assert "is not valid JSON" in export(project, sandbox, monkeypatch, capsys, "--plan", str(plan_path)).stderr
    assert order_stats(sandbox)["requests"] == 0


# -- the guard --------------------------------------------------------------------------------------------
def test_the_guard_refuses_a_100_percent_change_and_the_flag_allows_it_once(
    project, sandbox, monkeypatch, capsys
) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    considered = results(project)["rows"]["considered"]
    execute(project, f"update {MODEL} set ordered_units = ordered_units + 1")
    requests, runs = order_stats(sandbox)["requests"], state_fingerprint(project)[0][0]

    refused = export(project, sandbox, monkeypatch, capsys)
    assert refused.exit_code == 3
    assert (f"{considered:,} rows would go out that the destination does not hold as they are (0 of them new), "
            f"against {considered:,} orders acknowledged before (100.0%") in refused.stderr
    assert "--allow-large-change" in refused.stderr
    assert export(project, sandbox, monkeypatch, capsys, "--full-refresh").exit_code == 3
    assert order_stats(sandbox)["requests"] == requests and state_fingerprint(project)[0][0] == runs
    plan = plan_json(project, sandbox, monkeypatch, capsys)
    assert plan["guard"]["refuses"] is True and plan["guard"]["change_share"] == 1.0
    assert plan["changed_attributes"] == [
        {"attribute": "ordered_units", "rows": considered, "examples": plan["changed_attributes"][0]["examples"]}]

    allowed = export(project, sandbox, monkeypatch, capsys, "--allow-large-change")
    assert allowed.exit_code == 0, allowed.stderr
    assert results(project)["rows"]["sent"] == results(project)["rows"]["changed"] == considered
    # allowed once: the next change of every order is refused again
    execute(project, f"update {MODEL} set ordered_units = ordered_units + 1")
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 3
    # a higher limit from the environment lets it through
    monkeypatch.setenv("MO_MAX_CHANGE_SHARE", "1")
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0


def test_a_first_run_to_a_destination_is_not_limited(project, sandbox, monkeypatch, capsys) -> None:
    export_locations(project, sandbox, monkeypatch, capsys)  # the orders' first run, their locations known
    plan = plan_json(project, sandbox, monkeypatch, capsys, "--max-change-share", "0")
    assert plan["guard"]["limited"] is False and plan["counts"]["new"] == plan["counts"]["to_send"] > 0
    result = export(project, sandbox, monkeypatch, capsys, "--max-change-share", "0", "--max-loss-share", "0")
    assert result.exit_code == 0, result.stderr
    assert results(project)["rows"]["acknowledged"] == plan["counts"]["to_send"]


def test_the_guard_refuses_a_model_that_lost_many_acknowledged_orders(project, sandbox, monkeypatch, capsys) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    total = results(project)["rows"]["considered"]
    execute(project, f"delete from {MODEL} where location_id = (select min(location_id) from {MODEL})")
    lost = total - project.query(f"select count(*) from {MODEL}")[0][0]
    assert lost / total > 0.2

    refused = export(project, sandbox, monkeypatch, capsys)
    assert refused.exit_code == 3
    assert f"{lost:,} of the {total:,} orders acknowledged before are no longer in the model" in refused.stderr
    assert plan_json(project, sandbox, monkeypatch, capsys)["counts"]["lost_orders"] == lost
    assert export(project, sandbox, monkeypatch, capsys, "--max-loss-share", "0.9").exit_code == 0


# -- the upgrade ------------------------------------------------------------------------------------------
def test_a_version_3_state_migrates_and_keys_acknowledged_with_other_content_count_as_unknown_changes(
    project, sandbox, monkeypatch, capsys
) -> None:
    assert SCHEMA_VERSION == 6
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    total = results(project)["rows"]["considered"]
    execute(
        project,
        "drop table mo_export_state.acknowledged_content",
        "drop table mo_export_state.acknowledgements",
        "alter table mo_export_state.destinations drop column token_fingerprint",
        "update mo_export_state.schema_version set version = 3",
        # changed after the acknowledgement, under the same key: the previous content is not known
        f"update {MODEL} set ordered_units = ordered_units + 1 where order_number in "
        f"(select order_number from {MODEL} order by order_number limit 10)",
    )
    plan = plan_json(project, sandbox, monkeypatch, capsys)  # read-only: the old state as it is
    assert plan["acknowledged_content_known"] is False
    assert (plan["counts"]["changed_previous_content_unknown"], plan["counts"]["changed"]) == (10, 0)

    upgraded = export(project, sandbox, monkeypatch, capsys)
    assert upgraded.exit_code == 0, upgraded.stderr
    assert "migrated the export state schema mo_export_state from version 3" in upgraded.stderr
    assert results(project)["rows"]["changed_previous_content_unknown"] == 10
    assert project.query("select max(version) from mo_export_state.schema_version") == [(SCHEMA_VERSION,)]
    # the content of every order is known again: what the model held where it matched, then the run's rows
    assert project.query(f"""select count(*) from (select * exclude (destination_id, order_hash)
                             from mo_export_state.acknowledged_content except select * from {MODEL})""") == [(0,)]
    assert state_fingerprint(project)[0][2] == total
    execute(project, f"update {MODEL} set status = 'TECO' where order_number = "
                     f"(select min(order_number) from {MODEL} where status <> 'TECO')")
    after = plan_json(project, sandbox, monkeypatch, capsys)
    assert [(a["attribute"], a["rows"]) for a in after["changed_attributes"]] == [("status", 1)]


def test_the_guard_counts_new_rows_so_a_model_that_doubles_is_refused(project, sandbox, monkeypatch, capsys) -> None:
    assert export(project, sandbox, monkeypatch, capsys).exit_code == 0
    considered = results(project)["rows"]["considered"]
    # every order copied under a new order number (at its own factory, so none is held for its location):
    # nothing acknowledged changes, but the model doubles
    execute(project, f"insert into {MODEL} select * replace (order_number || '-COPY' as order_number) from {MODEL}")
    requests = order_stats(sandbox)["requests"]

    refused = export(project, sandbox, monkeypatch, capsys)
    assert refused.exit_code == 3
    assert f"{considered:,} rows would go out that the destination does not hold as they are ({considered:,} of them "
    assert f"({considered:,} of them new)" in refused.stderr and "(100.0%" in refused.stderr
    assert order_stats(sandbox)["requests"] == requests


def test_an_output_path_that_is_not_a_regular_file_is_refused_and_left_alone(
    project, sandbox, monkeypatch, capsys, tmp_path
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for args in (["plan", "--out", str(fifo)], ["plan", "--out", "/dev/null"],
                 ["run", "--no-progress", "--results-path", "/dev/null"]):
        refused = mo_export(project, sandbox, monkeypatch, capsys, *args)
        assert refused.exit_code == 3, (args, refused.stderr)
        assert "not a regular file" in refused.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sandbox.stats()["requests"] == 0

    to_stdout = mo_export(project, sandbox, monkeypatch, capsys, "plan", "--out", "-")
    assert to_stdout.exit_code == 0, to_stdout.stderr
    assert orjson.loads(to_stdout.stdout)["format"] == "mo-export-plan"
