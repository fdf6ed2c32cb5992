"""The sandbox's second object, Locations (INV_LOCATIONS_OOTB), and its later foreign-key check of the
manufacturing orders (GET /_sandbox/failed-rows), over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mo_export_dev.sandbox import (
    SandboxConfig,
    SandboxError,
    SandboxHandle,
    running_sandbox,
    start_sandbox_process,
)

TOKEN = "locations-token-1234"
ORDERS = "INV_MANUFACTURING_ORDERS_OOTB"
LOCATIONS = "INV_LOCATIONS_OOTB"
ORDERS_PATH = f"/api/v2/ingest/object/{ORDERS}"
LOCATIONS_PATH = f"/api/v2/ingest/object/{LOCATIONS}"
LOCATION_ATTRIBUTES = ["location_id", "location_name", "country", "is_store", "is_dc", "is_factory", "updated_at"]

NO_FAULTS: dict[str, Any] = {
    "latency_ms": 0, "error_rate": 0, "drop_rate": 0, "stall_rate": 0, "stall_seconds": 30,
    "fail_after_store_rate": 0, "burst_429_rate": 0, "burst_429_seconds": 5, "rate_limit_rps": 0, "seed": 0,
}


def location(location_id: str, *, updated_at: str = "2024-03-01 00:00:00", is_factory: Any = True,
             **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "location_id": location_id,
        "location_name": f"Plant {location_id}",
        "country": "DE",
        "is_store": False,
        "is_dc": False,
        "is_factory": is_factory,
        "updated_at": updated_at,
    }
    row.update(overrides)
    return row


def order(n: int, location_id: str = "PLANT-1", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_number": f"MO{n:06d}",
        "product_id": f"P{n % 17:04d}",
        "location_id": location_id,
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
    config = SandboxConfig(token=TOKEN, store_path=tmp_path_factory.mktemp("locations") / "store.sqlite",
                           rate_limit_rps=0, max_rows=500)
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


def post(client: httpx.Client, body: Any, path: str = LOCATIONS_PATH) -> httpx.Response:
    return client.post(path, content=orjson.dumps(body), headers={"Content-Type": "application/json"})


def accepted(client: httpx.Client, rows: list[dict[str, Any]], path: str = LOCATIONS_PATH) -> dict[str, Any]:
    response = post(client, envelope(rows), path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert (body["accepted"], body["failed"]) == (len(rows), [])
    return body


# ---- the Locations object ----------------------------------------------------------------------

def test_locations_are_accepted_stored_under_their_key_and_listed(api: SandboxHandle, client: httpx.Client) -> None:
    answer = accepted(client, [location("PLANT-1"), location("DC-1", is_factory=False, is_dc=True,
                                                               location_name=None, country=None)])
    other_path = accepted(client, [location("STORE-1", is_factory=False, is_store=True)],
                          path=f"/api/v2/objects/{LOCATIONS}")

    stored = api.rows(LOCATIONS)
    assert [r["key"] for r in stored] == [["DC-1", "2024-03-01 00:00:00"], ["PLANT-1", "2024-03-01 00:00:00"],
                                          ["STORE-1", "2024-03-01 00:00:00"]]
    assert {r["object_name"] for r in stored} == {LOCATIONS}
    assert stored[1]["row"] == location("PLANT-1")
    assert list(stored[0]["row"]) == LOCATION_ATTRIBUTES
    assert stored[0]["row"]["location_name"] is None and stored[0]["row"]["is_dc"] is True
    assert stored[1]["request_id"] == answer["requestId"] and stored[2]["request_id"] == other_path["requestId"]
    assert api.rows() == []  # the default is the manufacturing orders, as it always was
    assert [r["key"] for r in api.rows("*")] == [r["key"] for r in stored]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param("true", "'true'", id="text-true"),
        pytest.param("false", "'false'", id="text-false"),
        pytest.param(1, "a JSON number", id="one"),
        pytest.param(0, "a JSON number", id="zero"),
        pytest.param(1.0, "a JSON number", id="float"),
        pytest.param([True], "a JSON array", id="array"),
    ],
)
def test_a_boolean_that_is_not_json_true_or_false_fails_with_DI_E_00013(
    api: SandboxHandle, client: httpx.Client, value: Any, shown: str
) -> None:
    response = post(client, envelope([location("PLANT-1"), location("PLANT-2", is_factory=value)]))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"requestId", "accepted", "failed"}
    assert body["accepted"] == 1
    assert body["failed"] == [{"index": 1, "errors": [{
        "code": "DI_E_00013", "category": "DATA_TYPE", "column": "is_factory",
        "message": f"'is_factory' must be a JSON true or false, got {shown}"}]}]
    assert [r["row"]["location_id"] for r in api.rows(LOCATIONS)] == ["PLANT-1"]


def test_every_boolean_column_is_checked(client: httpx.Client) -> None:
    body = post(client, envelope([location("PLANT-1", is_store="no", is_dc=1, is_factory=None)])).json()
    assert body["accepted"] == 0
    assert [(e["code"], e["column"]) for e in body["failed"][0]["errors"]] == [
        ("DI_E_00013", "is_store"), ("DI_E_00013", "is_dc"), ("DI_E_00003", "is_factory")]


def test_a_missing_required_is_factory_fails_and_nothing_is_stored(api: SandboxHandle, client: httpx.Client) -> None:
    row = location("PLANT-1")
    del row["is_factory"]
    body = post(client, envelope([row])).json()
    assert body["accepted"] == 0
    assert body["failed"] == [{"index": 0, "errors": [{
        "code": "DI_E_00001", "category": "SCHEMA", "column": "is_factory",
        "message": "attribute 'is_factory' is missing (send null for an optional one)"}]}]
    assert api.rows(LOCATIONS) == []
    assert api.stats()["objects"][LOCATIONS]["rows_stored"] == 0


def test_optional_attributes_take_null_required_ones_do_not(client: httpx.Client) -> None:
    body = post(client, envelope([location("PLANT-1", location_name=None, country=None),
                                  location("PLANT-2", is_dc=None), location("PLANT-3", updated_at=None)])).json()
    assert body["accepted"] == 1
    assert [(f["index"], [(e["code"], e["column"]) for e in f["errors"]]) for f in body["failed"]] == [
        (1, [("DI_E_00003", "is_dc")]), (2, [("DI_E_00003", "updated_at")])]


def test_an_order_row_sent_to_locations_is_judged_by_the_locations_contract(client: httpx.Client) -> None:
    body = post(client, envelope([order(1)])).json()
    codes = {(e["code"], e["column"]) for e in body["failed"][0]["errors"]}
    assert ("DI_E_00001", "is_factory") in codes and ("DI_E_00002", "order_number") in codes
    assert body["accepted"] == 0


def test_upsert_of_a_new_updated_at_is_a_new_version_and_of_the_same_key_an_overwrite(
    api: SandboxHandle, client: httpx.Client
) -> None:
    accepted(client, [location("PLANT-1", location_name="Old name")])
    accepted(client, [location("PLANT-1", location_name="New name")])  # same key: overwritten
    accepted(client, [location("PLANT-1", updated_at="2024-04-01 00:00:00", is_factory=False)])  # a new version

    stored = api.rows(LOCATIONS)
    assert [(r["key"], r["row"]["location_name"], r["write_count"]) for r in stored] == [
        (["PLANT-1", "2024-03-01 00:00:00"], "New name", 2),
        (["PLANT-1", "2024-04-01 00:00:00"], "Plant PLANT-1", 1),
    ]
    assert api.stats()["objects"][LOCATIONS] == {"requests": 3, "rows_accepted": 3, "rows_failed": 0,
                                                 "rows_stored": 2}


def test_keys_are_the_locations_own_in_a_request_and_on_append(api: SandboxHandle, client: httpx.Client) -> None:
    twice = post(client, envelope([location("PLANT-1"), location("PLANT-1", country="FR")])).json()
    assert twice["accepted"] == 1
    assert [(e["code"], e["column"]) for e in twice["failed"][0]["errors"]] == [("DI_E_00009",
                                                                                 "location_id,updated_at")]
    again = post(client, envelope([location("PLANT-1"), location("PLANT-2")], operation="APPEND")).json()
    assert again["accepted"] == 1
    assert [(f["index"], f["errors"][0]["code"], f["errors"][0]["column"]) for f in again["failed"]] == [
        (0, "DI_E_00010", "location_id,updated_at")]
    assert {r["row"]["location_id"]: r["row"]["country"] for r in api.rows(LOCATIONS)} == {"PLANT-1": "DE",
                                                                                          "PLANT-2": "DE"}


def test_a_dry_run_of_locations_stores_nothing(api: SandboxHandle, client: httpx.Client) -> None:
    body = post(client, envelope([location("PLANT-1"), location("PLANT-2", is_dc="true")], dryRun=True)).json()
    assert (body["accepted"], [f["index"] for f in body["failed"]]) == (1, [1])
    assert api.rows("*") == []


def test_limits_and_the_rate_limit_apply_to_locations_requests(api: SandboxHandle, client: httpx.Client) -> None:
    too_many = post(client, envelope([location(f"L{i}") for i in range(501)]))
    assert too_many.status_code == 400 and "too many rows" in too_many.json()["detail"]
    api.set_faults(rate_limit_rps=0.1, rate_limit_burst=2)  # shared by both objects: one bucket per tenant
    statuses = [post(client, envelope([location("PLANT-1")])).status_code,
                post(client, envelope([order(1)]), ORDERS_PATH).status_code,
                post(client, envelope([location("PLANT-2")])).status_code]
    assert statuses == [200, 200, 429]


def test_an_unknown_object_is_still_404_naming_the_objects_known(client: httpx.Client) -> None:
    response = post(client, envelope([location("PLANT-1")]), path="/api/v2/ingest/object/INV_PRODUCTS_OOTB")
    assert response.status_code == 404
    assert response.json() == {"detail": f"unknown object 'INV_PRODUCTS_OOTB'; this API knows {LOCATIONS}, {ORDERS}"}


def test_a_sandbox_configured_without_locations_answers_them_404(tmp_path: Path) -> None:
    config = SandboxConfig(token=TOKEN, rate_limit_rps=0, store_path=tmp_path / "s.sqlite", objects=frozenset({ORDERS}))
    with running_sandbox(config) as handle:
        response = httpx.post(handle.base_url + LOCATIONS_PATH, content=orjson.dumps(envelope([location("P")])),
                              headers={"Authorization": TOKEN})
        assert response.status_code == 404
        with pytest.raises(SandboxError, match="unknown object 'INV_LOCATIONS_OOTB'"):
            handle.rows(LOCATIONS)


# ---- schema endpoints --------------------------------------------------------------------------

def test_schema_endpoints_list_the_locations_table_with_its_columns_and_key(
    api: SandboxHandle, client: httpx.Client
) -> None:
    (solution,) = client.get("/api/v2/schema/solutions").json()["solutions"]
    assert solution["tableCount"] == 2
    document = client.get("/api/v2/schema/solutions/INV_OOTB/tables").json()
    tables = {t["name"]: t for t in document["tables"]}
    assert list(tables) == [ORDERS, LOCATIONS]
    table = tables[LOCATIONS]
    assert table["columns"] == [
        {"name": "location_id", "type": "string", "validations": ["required"]},
        {"name": "location_name", "type": "string", "validations": []},
        {"name": "country", "type": "string", "validations": []},
        {"name": "is_store", "type": "boolean", "validations": ["required"]},
        {"name": "is_dc", "type": "boolean", "validations": ["required"]},
        {"name": "is_factory", "type": "boolean", "validations": ["required"]},
        {"name": "updated_at", "type": "timestamp", "validations": ["required", "format:YYYY-MM-DD HH:MM:SS"]},
    ]
    assert table["primaryKeys"] == ["location_id", "updated_at"]
    assert tables[ORDERS]["primaryKeys"] == ["product_id", "location_id", "order_number", "updated_at"]


def test_a_schema_type_override_changes_the_orders_table_only(tmp_path: Path) -> None:
    config = SandboxConfig(token=TOKEN, store_path=tmp_path / "s.sqlite", schema_types=(("location_id", "integer"),))
    with running_sandbox(config) as handle:
        tables = httpx.get(handle.base_url + "/api/v2/schema/solutions/INV_OOTB/tables",
                           headers={"Authorization": TOKEN}).json()["tables"]
    types = {t["name"]: {c["name"]: c["type"] for c in t["columns"]} for t in tables}
    assert (types[ORDERS]["location_id"], types[LOCATIONS]["location_id"]) == ("integer", "string")


# ---- failed rows: the foreign key to Locations, checked when asked -------------------------------

def test_failed_rows_name_orders_at_unknown_and_non_factory_locations(api: SandboxHandle, client: httpx.Client) -> None:
    accepted(client, [location("PLANT-1"), location("DC-1", is_factory=False, is_dc=True)])
    accepted(client, [order(1, "PLANT-1"), order(2, "DC-1"), order(3, "NOWHERE")], path=ORDERS_PATH)

    response = httpx.get(api.root_url + "/_sandbox/failed-rows")
    assert response.status_code == 200
    body = response.json()
    assert body == {"count": 2, "failed_rows": [
        {"object_name": ORDERS, "key": ["P0002", "DC-1", "MO000002", "2024-03-02 09:15:00"],
         "order_number": "MO000002", "location_id": "DC-1", "reason": "LOCATION_NOT_FACTORY",
         "message": "location_id 'DC-1' is not a factory: its latest INV_LOCATIONS_OOTB row "
                    "(2024-03-01 00:00:00) has is_factory false",
         "location_updated_at": "2024-03-01 00:00:00"},
        {"object_name": ORDERS, "key": ["P0003", "NOWHERE", "MO000003", "2024-03-02 09:15:00"],
         "order_number": "MO000003", "location_id": "NOWHERE", "reason": "LOCATION_NOT_FOUND",
         "message": "location_id 'NOWHERE' is not a stored INV_LOCATIONS_OOTB row",
         "location_updated_at": None},
    ]}
    assert api.failed_rows() == body["failed_rows"]
    # the orders were accepted all the same: the check comes later, as on the platform
    assert sorted(r["row"]["order_number"] for r in api.rows()) == ["MO000001", "MO000002", "MO000003"]


def test_failed_rows_are_computed_when_asked_from_what_is_stored(api: SandboxHandle, client: httpx.Client) -> None:
    assert api.failed_rows() == []
    accepted(client, [order(1, "PLANT-1"), order(2, "PLANT-2")], path=ORDERS_PATH)
    assert [(f["order_number"], f["reason"]) for f in api.failed_rows()] == [
        ("MO000001", "LOCATION_NOT_FOUND"), ("MO000002", "LOCATION_NOT_FOUND")]

    accepted(client, [location("PLANT-1")])  # the location arrives after its orders
    assert [(f["order_number"], f["reason"]) for f in api.failed_rows()] == [("MO000002", "LOCATION_NOT_FOUND")]

    accepted(client, [location("PLANT-2", is_factory=False)])
    assert [(f["order_number"], f["reason"]) for f in api.failed_rows()] == [("MO000002", "LOCATION_NOT_FACTORY")]


def test_a_location_that_stops_being_a_factory_makes_its_orders_appear(
    api: SandboxHandle, client: httpx.Client
) -> None:
    accepted(client, [location("PLANT-1", updated_at="2024-03-01 00:00:00")])
    accepted(client, [order(1, "PLANT-1"), order(2, "PLANT-1", updated_at="2024-03-05 00:00:00")], path=ORDERS_PATH)
    assert api.failed_rows() == []

    # a later version says it is no factory any more: its latest version decides, whatever the order's time
    accepted(client, [location("PLANT-1", updated_at="2024-06-01 00:00:00", is_factory=False)])
    failed = api.failed_rows()
    assert [(f["order_number"], f["reason"], f["location_updated_at"]) for f in failed] == [
        ("MO000001", "LOCATION_NOT_FACTORY", "2024-06-01 00:00:00"),
        ("MO000002", "LOCATION_NOT_FACTORY", "2024-06-01 00:00:00"),
    ]

    # a version older than the latest does not count, however it arrives
    accepted(client, [location("PLANT-1", updated_at="2024-05-01 00:00:00", is_factory=True)])
    assert len(api.failed_rows()) == 2
    # a newer one that is a factory again clears them
    accepted(client, [location("PLANT-1", updated_at="2024-07-01 00:00:00", is_factory=True)])
    assert api.failed_rows() == []


def test_failed_rows_list_every_stored_version_of_an_order(api: SandboxHandle, client: httpx.Client) -> None:
    accepted(client, [order(1, "NOWHERE"), order(1, "NOWHERE", updated_at="2024-03-03 00:00:00")], path=ORDERS_PATH)
    accepted(client, [order(1, "NOWHERE")], path=ORDERS_PATH)  # the same key again: still one stored row
    assert [f["key"][-1] for f in api.failed_rows()] == ["2024-03-02 09:15:00", "2024-03-03 00:00:00"]


def test_reset_clears_both_objects(api: SandboxHandle, client: httpx.Client) -> None:
    accepted(client, [location("PLANT-1")])
    accepted(client, [order(1, "NOWHERE")], path=ORDERS_PATH)
    assert len(api.rows("*")) == 2 and len(api.failed_rows()) == 1
    api.reset()
    assert api.rows("*") == [] and api.failed_rows() == []
    stats = api.stats()
    assert stats["rows_stored"] == 0
    assert stats["objects"] == {name: {"requests": 0, "rows_accepted": 0, "rows_failed": 0, "rows_stored": 0}
                                for name in (LOCATIONS, ORDERS)}


# ---- what an orders-only client sees is unchanged ------------------------------------------------

def test_orders_only_the_rows_endpoint_and_the_stats_are_as_before(api: SandboxHandle, client: httpx.Client) -> None:
    answer = accepted(client, [order(1), order(2)], path=ORDERS_PATH)
    rows = api.rows()
    assert [r["row"]["order_number"] for r in rows] == ["MO000001", "MO000002"]
    assert all(set(r) == {"object_name", "key", "row", "first_written_at", "last_written_at", "write_count",
                          "request_id"} and r["request_id"] == answer["requestId"] for r in rows)
    assert api.rows(ORDERS) == rows == api.rows("*")
    raw = httpx.get(api.root_url + "/_sandbox/rows")
    assert raw.headers["content-type"].startswith("application/x-ndjson")
    assert [orjson.loads(line) for line in raw.content.splitlines()] == rows

    stats = api.stats()
    assert (stats["requests"], stats["requests_by_status"]) == (1, {"200": 1})
    assert (stats["rows_accepted"], stats["rows_failed"], stats["rows_stored"]) == (2, 0, 2)
    assert stats["objects"][ORDERS] == {"requests": 1, "rows_accepted": 2, "rows_failed": 0, "rows_stored": 2}
    assert stats["objects"][LOCATIONS] == {"requests": 0, "rows_accepted": 0, "rows_failed": 0, "rows_stored": 0}

    accepted(client, [location("PLANT-1")])
    assert api.rows() == rows  # a location does not show among the orders
    stats = api.stats()
    assert (stats["requests"], stats["rows_accepted"], stats["rows_stored"]) == (2, 3, 3)  # every object together
    assert stats["objects"][LOCATIONS]["rows_stored"] == 1


# ---- other ways of running the sandbox -----------------------------------------------------------

def test_worker_processes_judge_locations_by_their_contract(tmp_path: Path) -> None:
    config = SandboxConfig(token=TOKEN, rate_limit_rps=0, store_path=tmp_path / "w.sqlite", workers=1)
    with running_sandbox(config) as handle, \
            httpx.Client(base_url=handle.base_url, headers={"Authorization": TOKEN}, timeout=30) as http:
        body = post(http, envelope([location("PLANT-1"), location("PLANT-2", is_factory="true")])).json()
        assert (body["accepted"], body["failed"][0]["errors"][0]["code"]) == (1, "DI_E_00013")
        assert [r["key"] for r in handle.rows(LOCATIONS)] == [["PLANT-1", "2024-03-01 00:00:00"]]
        assert handle.stats()["worker_cpu_seconds"] > 0


def test_a_sandbox_process_serves_locations_by_default(tmp_path: Path) -> None:
    config = SandboxConfig(token=TOKEN, rate_limit_rps=0, store_path=tmp_path / "p.sqlite")
    with start_sandbox_process(config, tmp_path / "sandbox.log") as process:
        for path, rows in ((LOCATIONS_PATH, [location("DC-1", is_factory=False)]), (ORDERS_PATH, [order(1, "DC-1")])):
            response = httpx.post(process.base_url + path, content=orjson.dumps(envelope(rows)),
                                  headers={"Authorization": TOKEN})
            assert response.status_code == 200 and response.json()["failed"] == []
        assert [f["reason"] for f in process.failed_rows()] == ["LOCATION_NOT_FACTORY"]
        assert len(process.rows()) == 1 and len(process.rows("*")) == 2
