"""The sandbox ingestion API, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mo_export_dev.sandbox import (
    SandboxConfig,
    SandboxConfigError,
    SandboxError,
    SandboxHandle,
    running_sandbox,
    start_sandbox_process,
)
from mo_export_dev.sandbox.config import check_bind_allowed
from tests.reference_contract import ATTRIBUTE_NAMES, DEFAULT_OBJECT_NAME

TOKEN = "test-token-1234"
READONLY = "read-only-token-5678"
PATH = f"/api/v2/ingest/object/{DEFAULT_OBJECT_NAME}"

NO_FAULTS: dict[str, Any] = {
    "latency_ms": 0, "error_rate": 0, "drop_rate": 0, "stall_rate": 0, "stall_seconds": 30,
    "fail_after_store_rate": 0, "burst_429_rate": 0, "burst_429_seconds": 5, "rate_limit_rps": 0, "seed": 0,
}


def make_row(n: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_number": f"MO{n:06d}",
        "product_id": f"P{n % 17:04d}",
        "location_id": "PLANT-1",
        "source_id": "MES",
        "ordered_at": "2024-01-31 08:00:00",
        "ordered_units": 100 + n,
        "expected_start_date": "2024-02-29 06:00:00",
        "actual_start_date": None,
        "expected_end_date": "2024-03-01 18:00:00",
        "actual_end_date": None,
        "produced_units": None,
        "status": "scheduled",
        "updated_at": "2024-03-02 09:15:00",
    }
    row.update(overrides)
    return row


def envelope(rows: list[Any], operation: str = "UPSERT", **extra: Any) -> dict[str, Any]:
    return {"solutionName": "INV_OOTB", "data": rows, "operationType": operation, **extra}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    config = SandboxConfig(
        token=TOKEN,
        readonly_tokens=frozenset({READONLY}),
        store_path=tmp_path_factory.mktemp("sandbox") / "store.sqlite",
        rate_limit_rps=0,
        max_rows=500,
        max_bytes=200_000,
    )
    with running_sandbox(config) as handle:
        yield handle


@pytest.fixture
def api(sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    """The shared sandbox, emptied and with every fault and the rate limit off."""
    sandbox.set_faults(**NO_FAULTS)
    sandbox.reset()
    yield sandbox
    sandbox.set_faults(**NO_FAULTS)


@pytest.fixture
def client(api: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base_url, headers={"Authorization": TOKEN}, timeout=10) as c:
        yield c


def post(client: httpx.Client, body: Any, path: str = PATH) -> httpx.Response:
    return client.post(path, content=orjson.dumps(body), headers={"Content-Type": "application/json"})


# ---- accepted rows -------------------------------------------------------------------------------

def test_valid_rows_are_accepted_and_stored(api: SandboxHandle, client: httpx.Client) -> None:
    rows = [make_row(i) for i in range(3)]
    response = post(client, envelope(rows))
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 3
    assert body["failed"] == []
    stored = api.rows()
    assert sorted(r["row"]["order_number"] for r in stored) == ["MO000000", "MO000001", "MO000002"]
    assert all(r["write_count"] == 1 and r["request_id"] == body["requestId"] for r in stored)
    assert stored[0]["row"] == next(r for r in rows if r["order_number"] == stored[0]["row"]["order_number"])
    assert stored[0]["key"] == [stored[0]["row"][k] for k in ("product_id", "location_id", "order_number",
                                                              "updated_at")]


def test_alternate_path_template_stores_too(api: SandboxHandle, client: httpx.Client) -> None:
    response = post(client, envelope([make_row(1)]), path=f"/api/v2/objects/{DEFAULT_OBJECT_NAME}")
    assert response.status_code == 200
    assert api.stats()["rows_stored"] == 1


def test_upsert_overwrites_the_stored_row_and_counts_writes(api: SandboxHandle, client: httpx.Client) -> None:
    first = post(client, envelope([make_row(1, status="scheduled")])).json()
    second = post(client, envelope([make_row(1, status="completed", produced_units=5)])).json()
    assert (first["accepted"], second["accepted"]) == (1, 1)
    (stored,) = api.rows()
    assert stored["row"]["status"] == "completed"
    assert stored["row"]["produced_units"] == 5
    assert stored["write_count"] == 2
    assert stored["request_id"] == second["requestId"]
    assert stored["first_written_at"] <= stored["last_written_at"]


def test_append_refuses_a_key_that_is_already_stored(api: SandboxHandle, client: httpx.Client) -> None:
    post(client, envelope([make_row(1)], operation="APPEND"))
    body = post(client, envelope([make_row(1, status="completed"), make_row(2)], operation="APPEND")).json()
    assert body["accepted"] == 1
    assert [f["index"] for f in body["failed"]] == [0]
    assert body["failed"][0]["errors"][0]["code"] == "DI_E_00010"
    stored = {r["row"]["order_number"]: r for r in api.rows()}
    assert stored["MO000001"]["row"]["status"] == "scheduled"
    assert stored["MO000001"]["write_count"] == 1
    assert set(stored) == {"MO000001", "MO000002"}


def test_dry_run_validates_and_stores_nothing(api: SandboxHandle, client: httpx.Client) -> None:
    body = post(client, envelope([make_row(1), make_row(2, ordered_units="7")], dryRun=True)).json()
    assert body["accepted"] == 1
    assert [f["index"] for f in body["failed"]] == [1]
    assert api.rows() == []
    assert api.stats()["rows_stored"] == 0


def test_optional_attributes_accept_null_and_required_ones_do_not(client: httpx.Client) -> None:
    optional_nulls = make_row(1, actual_start_date=None, actual_end_date=None, produced_units=None, status=None)
    body = post(client, envelope([optional_nulls, make_row(2, source_id=None)])).json()
    assert body["accepted"] == 1
    assert body["failed"] == [{"index": 1, "errors": [{
        "code": "DI_E_00003", "category": "NULL_CHECK",
        "message": "'source_id' is required and must not be null", "column": "source_id"}]}]


# ---- failed rows ---------------------------------------------------------------------------------

INVALID_ROWS = [
    pytest.param({k: v for k, v in make_row(9).items() if k != "status"}, "DI_E_00001", "status", id="missing"),
    pytest.param({**make_row(9), "colour": "red"}, "DI_E_00002", "colour", id="unknown-key"),
    pytest.param(make_row(9, updated_at=None), "DI_E_00003", "updated_at", id="required-null"),
    pytest.param(make_row(9, location_id=7), "DI_E_00004", "location_id", id="string-as-number"),
    pytest.param(make_row(9, ordered_units=1.5), "DI_E_00005", "ordered_units", id="integer-as-float"),
    pytest.param(make_row(9, ordered_units=10.0), "DI_E_00005", "ordered_units", id="integer-as-whole-float"),
    pytest.param(make_row(9, produced_units=True), "DI_E_00005", "produced_units", id="integer-as-bool"),
    pytest.param(make_row(9, ordered_units="10"), "DI_E_00005", "ordered_units", id="integer-as-string"),
    pytest.param(make_row(9, ordered_units=2**63), "DI_E_00006", "ordered_units", id="integer-over-int64"),
    pytest.param(make_row(9, ordered_at="2024-01-31T08:00:00"), "DI_E_00007", "ordered_at", id="iso-t"),
    pytest.param(make_row(9, ordered_at="2024-01-31"), "DI_E_00007", "ordered_at", id="date-only"),
    pytest.param(make_row(9, actual_end_date=1706688000), "DI_E_00007", "actual_end_date", id="epoch-number"),
    pytest.param(make_row(9, updated_at="2024-03-02 09:15:00.123"), "DI_E_00007", "updated_at", id="fraction"),
    pytest.param(make_row(9, expected_start_date="2023-02-29 06:00:00"), "DI_E_00008", "expected_start_date",
                 id="not-a-leap-year"),
    pytest.param(make_row(9, expected_end_date="2024-04-31 06:00:00"), "DI_E_00008", "expected_end_date",
                 id="april-31"),
    pytest.param(make_row(9, ordered_at="2024-13-01 00:00:00"), "DI_E_00008", "ordered_at", id="month-13"),
    pytest.param(make_row(9, ordered_at="2024-01-01 24:00:00"), "DI_E_00008", "ordered_at", id="hour-24"),
    pytest.param(make_row(9, ordered_at="2024-01-01 10:00:00\n2024-01-01 10:00:00"), "DI_E_00007", "ordered_at",
                 id="two-timestamps-in-one"),
    pytest.param(["not", "an", "object"], "DI_E_00011", "*", id="row-not-object"),
]


@pytest.mark.parametrize(("bad_row", "code", "column"), INVALID_ROWS)
def test_invalid_row_fails_with_its_index_code_and_column(
    api: SandboxHandle, client: httpx.Client, bad_row: Any, code: str, column: str
) -> None:
    body = post(client, envelope([make_row(1), bad_row, make_row(2)])).json()
    assert body["accepted"] == 2
    (failed,) = body["failed"]
    assert failed["index"] == 1
    assert [(e["code"], e["column"]) for e in failed["errors"]] == [(code, column)]
    assert failed["errors"][0]["category"]
    assert failed["errors"][0]["message"]
    assert sorted(r["row"]["order_number"] for r in api.rows()) == ["MO000001", "MO000002"]


def test_every_error_of_a_row_is_reported(client: httpx.Client) -> None:
    bad = make_row(3, ordered_units=None, status=5, ordered_at="yesterday")
    del bad["source_id"]
    body = post(client, envelope([bad])).json()
    assert body["accepted"] == 0
    codes = {(e["code"], e["column"]) for e in body["failed"][0]["errors"]}
    assert codes == {("DI_E_00001", "source_id"), ("DI_E_00003", "ordered_units"), ("DI_E_00004", "status"),
                     ("DI_E_00007", "ordered_at")}


def test_second_row_with_the_same_key_in_one_request_fails(api: SandboxHandle, client: httpx.Client) -> None:
    body = post(client, envelope([make_row(1), make_row(2), make_row(1, status="completed")])).json()
    assert body["accepted"] == 2
    assert body["failed"][0]["index"] == 2
    assert body["failed"][0]["errors"][0]["code"] == "DI_E_00009"
    assert body["failed"][0]["errors"][0]["column"] == "product_id,location_id,order_number,updated_at"
    stored = {r["row"]["order_number"]: r["row"]["status"] for r in api.rows()}
    assert stored == {"MO000001": "scheduled", "MO000002": "scheduled"}


def test_the_contract_has_thirteen_attributes_and_a_full_row_passes(client: httpx.Client) -> None:
    row = make_row(4, actual_start_date="2024-02-29 07:00:00", actual_end_date="2024-03-01 17:59:59",
                   produced_units=0, status="completed", ordered_units=2**63 - 1)
    assert set(row) == set(ATTRIBUTE_NAMES)
    assert post(client, envelope([row])).json()["failed"] == []


# ---- whole-request errors ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        pytest.param(b'{"solutionName": "INV_OOTB", "data": [', "not valid JSON", id="malformed-json"),
        pytest.param(orjson.dumps([make_row(1)]), "JSON object", id="array-body"),
        pytest.param(orjson.dumps(envelope([make_row(i) for i in range(501)])), "too many rows", id="501-rows"),
        pytest.param(orjson.dumps(envelope([make_row(1)], operation="MERGE")), "operationType", id="bad-operation"),
        pytest.param(orjson.dumps({"data": [make_row(1)], "operationType": "UPSERT"}), "solutionName",
                     id="no-solution"),
        pytest.param(orjson.dumps(envelope([])), "non-empty", id="empty-data"),
        pytest.param(orjson.dumps(envelope([make_row(1)], dryRun="yes")), "dryRun", id="dry-run-not-bool"),
    ],
)
def test_bad_envelope_is_400_with_a_detail(
    api: SandboxHandle, client: httpx.Client, content: bytes, fragment: str
) -> None:
    response = client.post(PATH, content=content)
    assert response.status_code == 400
    assert fragment in response.json()["detail"]
    assert api.stats()["rows_stored"] == 0


def test_missing_token_is_401(client: httpx.Client) -> None:
    response = httpx.post(client.base_url.join(PATH), content=orjson.dumps(envelope([make_row(1)])))
    assert response.status_code == 401
    assert "Authorization" in response.json()["detail"]


def test_wrong_token_is_401_without_echoing_it(client: httpx.Client) -> None:
    response = client.post(PATH, content=orjson.dumps(envelope([make_row(1)])), headers={"Authorization": "guess-123"})
    assert response.status_code == 401
    assert "guess-123" not in response.text
    assert TOKEN not in response.text


def test_bearer_prefix_is_401_asking_for_the_bare_token(api: SandboxHandle, client: httpx.Client) -> None:
    response = client.post(PATH, content=orjson.dumps(envelope([make_row(1)])),
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 401
    assert "bare token" in response.json()["detail"]
    assert TOKEN not in response.text
    assert api.stats()["rows_stored"] == 0


def test_read_only_token_is_403(client: httpx.Client) -> None:
    response = client.post(PATH, content=orjson.dumps(envelope([make_row(1)])), headers={"Authorization": READONLY})
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]


def test_unknown_object_is_404(client: httpx.Client) -> None:
    response = post(client, envelope([make_row(1)]), path="/api/v2/ingest/object/INV_PURCHASE_ORDERS_OOTB")
    assert response.status_code == 404
    assert "INV_PURCHASE_ORDERS_OOTB" in response.json()["detail"]


def test_other_solution_name_is_404(client: httpx.Client) -> None:
    response = post(client, {**envelope([make_row(1)]), "solutionName": "OTHER"})
    assert response.status_code == 404
    assert "OTHER" in response.json()["detail"]


def test_body_over_the_byte_limit_is_413(api: SandboxHandle, client: httpx.Client) -> None:
    rows = [make_row(i, source_id="x" * 1000) for i in range(250)]  # ~290 kB against a 200 kB limit
    response = post(client, envelope(rows))
    assert response.status_code == 413
    assert "200000 bytes" in response.json()["detail"]
    assert api.stats()["rows_stored"] == 0


def test_chunked_body_over_the_byte_limit_is_413(client: httpx.Client) -> None:
    content = orjson.dumps(envelope([make_row(i, source_id="x" * 1000) for i in range(250)]))
    chunks = iter([content[i : i + 16_384] for i in range(0, len(content), 16_384)])
    response = client.post(PATH, content=chunks)  # no Content-Length: the size is counted as it arrives
    assert response.status_code == 413


# ---- rate limit and faults -----------------------------------------------------------------------

def test_over_the_rate_limit_is_429_with_retry_after(api: SandboxHandle, client: httpx.Client) -> None:
    api.set_faults(rate_limit_rps=0.1, rate_limit_burst=2)  # a token every 10 s: none comes back mid-test
    statuses = [post(client, envelope([make_row(i)])) for i in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert int(statuses[2].headers["Retry-After"]) >= 1
    assert "rate limit" in statuses[2].json()["detail"]
    assert api.stats()["throttled"] == 1


def test_injected_errors_answer_5xx_and_store_nothing(api: SandboxHandle, client: httpx.Client) -> None:
    api.set_faults(error_rate=1.0)
    statuses = {post(client, envelope([make_row(i)])).status_code for i in range(6)}
    statuses.add(post(client, envelope([make_row(i) for i in range(400)])).status_code)
    assert statuses <= {500, 502, 503}
    assert api.stats()["faults"] == {"error": 7}
    assert api.stats()["rows_stored"] == 0


def test_dropped_connection_is_a_transport_error_not_a_status(api: SandboxHandle, client: httpx.Client) -> None:
    api.set_faults(drop_rate=1.0)
    for rows in ([make_row(1)], [make_row(i) for i in range(400)]):  # a small body and a ~130 kB one
        with pytest.raises(httpx.RemoteProtocolError):
            post(client, envelope(rows))
    stats = api.stats()
    assert stats["requests_by_status"] == {"dropped": 2}
    assert stats["rows_stored"] == 0


def test_stall_outlasts_a_short_client_timeout(api: SandboxHandle) -> None:
    api.set_faults(stall_rate=1.0, stall_seconds=0.8)
    with httpx.Client(base_url=api.base_url, headers={"Authorization": TOKEN}, timeout=0.2) as short, \
            pytest.raises(httpx.ReadTimeout):
        post(short, envelope([make_row(1)]))
    assert api.stats()["faults"] == {"stall": 1}
    # let the stalled request finish, so its answer is not counted in the next test's stats
    deadline = time.monotonic() + 5
    while api.stats()["requests"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.stats()["requests_by_status"] == {"504": 1}


def test_stalled_request_answers_504_after_the_stall(api: SandboxHandle, client: httpx.Client) -> None:
    api.set_faults(stall_rate=1.0, stall_seconds=0.3)
    started = time.monotonic()
    response = post(client, envelope([make_row(1)]))
    assert response.status_code == 504
    assert time.monotonic() - started >= 0.3
    assert api.stats()["rows_stored"] == 0


def test_fail_after_store_keeps_the_rows_but_the_client_sees_a_failure(
    api: SandboxHandle, client: httpx.Client
) -> None:
    api.set_faults(fail_after_store_rate=1.0)
    outcomes = []
    for i in range(6):
        try:
            outcomes.append(post(client, envelope([make_row(i)])).status_code)
        except (httpx.RemoteProtocolError, httpx.ReadError):
            outcomes.append("dropped")
    assert all(o in {500, 502, 503, "dropped"} for o in outcomes)
    assert api.stats()["rows_stored"] == 6
    assert api.stats()["faults"] == {"fail_after_store": 6}


def test_429_burst_throttles_every_request_for_its_window(api: SandboxHandle, client: httpx.Client) -> None:
    api.set_faults(burst_429_rate=1.0, burst_429_seconds=3)
    first = post(client, envelope([make_row(1)]))
    api.set_faults(burst_429_rate=0.0000001)  # no new window, but the open one stays
    second = post(client, envelope([make_row(2)]))
    assert (first.status_code, second.status_code) == (429, 429)
    assert first.headers["Retry-After"] == "3"
    assert 1 <= int(second.headers["Retry-After"]) <= 3
    assert api.stats()["faults"] == {"burst_429": 2}


def test_latency_delays_the_answer(api: SandboxHandle, client: httpx.Client) -> None:
    api.set_faults(latency_ms=200)
    started = time.monotonic()
    assert post(client, envelope([make_row(1)])).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_same_seed_faults_the_same_requests(api: SandboxHandle, client: httpx.Client) -> None:
    def run() -> list[int]:
        api.set_faults(error_rate=0.5, seed=42)
        return [post(client, envelope([make_row(i)])).status_code for i in range(12)]

    first, second = run(), run()
    assert first == second
    assert 200 in first and any(s >= 500 for s in first)


# ---- admin endpoints -----------------------------------------------------------------------------

def test_stats_count_requests_by_status_and_rows(api: SandboxHandle, client: httpx.Client) -> None:
    post(client, envelope([make_row(1), make_row(2, ordered_units=None)]))
    post(client, envelope([make_row(3)], operation="MERGE"))
    stats = api.stats()
    assert stats["requests_by_status"] == {"200": 1, "400": 1}
    assert (stats["rows_accepted"], stats["rows_failed"], stats["rows_stored"]) == (1, 1, 1)
    assert stats["requests"] == 2


def test_reset_empties_store_and_counters(api: SandboxHandle, client: httpx.Client) -> None:
    post(client, envelope([make_row(1)]))
    api.reset()
    assert api.rows() == []
    assert api.stats()["requests"] == 0


def test_fault_endpoint_rejects_unknown_or_out_of_range_settings(api: SandboxHandle) -> None:
    with pytest.raises(SandboxError, match="unknown fault setting"):
        api.set_faults(explode_rate=0.5)
    with pytest.raises(SandboxError, match="probability"):
        api.set_faults(error_rate=1.5)
    assert api.faults()["error_rate"] == 0


def test_store_file_is_sqlite_in_wal_mode(api: SandboxHandle, client: httpx.Client) -> None:
    import sqlite3

    post(client, envelope([make_row(1)]))
    assert len(api.rows()) == 1  # a read expands the requests written so far into row_writes
    with sqlite3.connect(api.store_path) as conn:
        (mode,) = conn.execute("pragma journal_mode").fetchone()
        (count,) = conn.execute("select count(*) from stored_rows").fetchone()
    assert (mode, count) == ("wal", 1)


# ---- configuration and processes -----------------------------------------------------------------

def test_prefix_is_part_of_the_ingestion_paths(tmp_path: Path) -> None:
    config = SandboxConfig(token=TOKEN, prefix="ingestion-api/", store_path=tmp_path / "s.sqlite")
    with running_sandbox(config) as handle:
        assert handle.base_url.endswith("/ingestion-api")
        ok = httpx.post(handle.base_url + PATH, content=orjson.dumps(envelope([make_row(1)])),
                        headers={"Authorization": TOKEN})
        unprefixed = httpx.post(handle.root_url + PATH, content=orjson.dumps(envelope([make_row(1)])),
                                headers={"Authorization": TOKEN})
        assert (ok.status_code, unprefixed.status_code) == (200, 404)


def test_non_loopback_host_is_refused_unless_allowed() -> None:
    with pytest.raises(SandboxConfigError, match="allow-remote"):
        check_bind_allowed(SandboxConfig(host="0.0.0.0"))
    check_bind_allowed(SandboxConfig(host="0.0.0.0", allow_remote=True))
    check_bind_allowed(SandboxConfig(host="localhost"))


def test_tokens_stay_out_of_the_config_repr() -> None:
    text = repr(SandboxConfig(token="s3cret-token", readonly_tokens=frozenset({"ro-s3cret"})))
    assert "s3cret" not in text


def test_sandbox_process_serves_and_stops(tmp_path: Path) -> None:
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "p.sqlite", error_rate=0.0, seed=3)
    sandbox = start_sandbox_process(config, tmp_path / "sandbox.log")
    try:
        response = httpx.post(sandbox.base_url + PATH, content=orjson.dumps(envelope([make_row(1)])),
                              headers={"Authorization": TOKEN})
        assert response.status_code == 200
        assert sandbox.stats()["rows_stored"] == 1
        assert sandbox.rows()[0]["row"]["order_number"] == "MO000001"
        assert sandbox.set_faults(error_rate=0.25)["error_rate"] == 0.25
    finally:
        code = sandbox.stop()
    assert code == 0
    assert TOKEN not in (tmp_path / "sandbox.log").read_text()


def test_sandbox_process_that_cannot_start_reports_why(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="not a loopback address"):
        start_sandbox_process(SandboxConfig(host="0.0.0.0", token=TOKEN), tmp_path / "bad.log", ready_timeout=20)


# ---- schema endpoints ----------------------------------------------------------------------------

def test_schema_endpoint_lists_the_solution_and_describes_the_contract(
    api: SandboxHandle, client: httpx.Client
) -> None:
    solutions = client.get("/api/v2/schema/solutions").json()["solutions"]
    assert solutions == [{"solutionName": "INV_OOTB", "prefix": "INV_", "suffix": "_OOTB",
                          "targetSchema": "inv_ootb", "tableCount": 2}]  # + Locations
    tables = client.get("/api/v2/schema/solutions/INV_OOTB/tables").json()["tables"]
    assert [t["name"] for t in tables] == [DEFAULT_OBJECT_NAME, "INV_LOCATIONS_OOTB"]
    table = tables[0]
    assert [c["name"] for c in table["columns"]] == list(ATTRIBUTE_NAMES)
    columns = {c["name"]: c for c in table["columns"]}
    assert columns["ordered_units"]["type"] == "integer"
    assert columns["status"] == {"name": "status", "type": "string", "validations": []}
    assert "required" in columns["updated_at"]["validations"]
    assert table["primaryKeys"] == ["product_id", "location_id", "order_number", "updated_at"]
    assert api.stats()["schema_reads"] == {"200": 2}
    assert api.stats()["requests"] == 0


def test_schema_endpoint_checks_the_token_and_the_solution(api: SandboxHandle, client: httpx.Client) -> None:
    assert httpx.get(api.base_url + "/api/v2/schema/solutions", headers={"Authorization": "nope"}).status_code == 401
    assert httpx.get(api.base_url + "/api/v2/schema/solutions",
                     headers={"Authorization": READONLY}).status_code == 200
    assert client.get("/api/v2/schema/solutions/OTHER/tables").status_code == 404


def test_schema_endpoint_can_be_off_or_serve_another_type(tmp_path: Path) -> None:
    off = SandboxConfig(token=TOKEN, store_path=tmp_path / "off.sqlite", schema_endpoint=False)
    with running_sandbox(off) as handle:
        answer = httpx.get(handle.base_url + "/api/v2/schema/solutions", headers={"Authorization": TOKEN})
        assert answer.status_code == 404
    drifted = SandboxConfig(token=TOKEN, store_path=tmp_path / "drift.sqlite",
                            schema_types=(("ordered_units", "string"),))
    with running_sandbox(drifted) as handle:
        tables = httpx.get(handle.base_url + "/api/v2/schema/solutions/INV_OOTB/tables",
                           headers={"Authorization": TOKEN}).json()["tables"]
        types = {c["name"]: c["type"] for c in tables[0]["columns"]}
        assert types["ordered_units"] == "string" and types["produced_units"] == "integer"
    with pytest.raises(SandboxConfigError, match="unknown column 'qty'"):
        SandboxConfig(schema_types=(("qty", "string"),))


def test_sandbox_process_takes_the_schema_settings_from_its_command_line(tmp_path: Path) -> None:
    config = SandboxConfig(token=TOKEN, rate_limit_rps=0, schema_types=(("status", "integer"),))
    with start_sandbox_process(config, tmp_path / "sandbox.log") as process:
        tables = httpx.get(process.base_url + "/api/v2/schema/solutions/INV_OOTB/tables",
                           headers={"Authorization": TOKEN}).json()["tables"]
    assert {c["name"]: c["type"] for c in tables[0]["columns"]}["status"] == "integer"
    off = SandboxConfig(token=TOKEN, rate_limit_rps=0, schema_endpoint=False)
    with start_sandbox_process(off, tmp_path / "off.log") as process:
        answer = httpx.get(process.base_url + "/api/v2/schema/solutions", headers={"Authorization": TOKEN})
    assert answer.status_code == 404


# ---- worker processes ----------------------------------------------------------------------------

def _exchange(handle: SandboxHandle) -> tuple[list[tuple[int, Any]], list[dict[str, Any]], dict[str, Any]]:
    """A run of requests of every kind: each answer (status and body, requestId left out), then the rows."""
    bodies: list[Any] = [
        envelope([make_row(n) for n in range(300)]),
        envelope([make_row(1, status="completed"), make_row(2, ordered_units="7"), make_row(3)]),
        envelope([make_row(4), make_row(4)]),
        envelope([make_row(5)], operation="APPEND"),
        envelope([make_row(5), make_row(6)], operation="APPEND"),
        envelope([make_row(7)], dryRun=True),
        envelope([make_row(8, order_number="MO-REFUSED")]),
        envelope([]),
        {"solutionName": "OTHER", "data": [make_row(9)], "operationType": "UPSERT"},
    ]
    answers: list[tuple[int, Any]] = []
    with httpx.Client(base_url=handle.base_url, headers={"Authorization": TOKEN}, timeout=30) as http:
        for body in [*bodies, b"{not json"]:
            content = body if isinstance(body, bytes) else orjson.dumps(body)
            response = http.post(PATH, content=content, headers={"Content-Type": "application/json"})
            answer = response.json()
            answer.pop("requestId", None)
            answers.append((response.status_code, answer))
    rows = [{k: r[k] for k in ("key", "row", "write_count")} for r in handle.rows()]
    stats = {k: handle.stats()[k] for k in ("requests_by_status", "rows_accepted", "rows_failed", "rows_stored")}
    return answers, rows, stats


def test_worker_processes_answer_exactly_as_the_event_loop_does(tmp_path: Path) -> None:
    outcomes = []
    # with a latency, the workers judge the body while it runs
    for workers, latency_ms in ((0, 0), (2, 0), (2, 5)):
        config = SandboxConfig(token=TOKEN, rate_limit_rps=0, store_path=tmp_path / f"w{workers}-{latency_ms}.sqlite",
                               refused_order_numbers=frozenset({"MO-REFUSED"}), workers=workers,
                               latency_ms=latency_ms)
        with running_sandbox(config) as handle:
            outcomes.append(_exchange(handle))
            if workers:
                assert handle.stats()["worker_cpu_seconds"] > 0
    assert outcomes[0] == outcomes[1] == outcomes[2]
    answers, rows, stats = outcomes[0]
    assert len(rows) == 300
    assert [status for status, _ in answers] == [200] * 7 + [400, 404, 400]
    assert stats["rows_stored"] == 300  # every later key is one of the first request's
    assert stats["rows_failed"] == 6  # units as text, the repeated key, three APPENDs of stored keys, the refused
