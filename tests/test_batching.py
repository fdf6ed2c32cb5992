"""Batching: row cap, byte cap, key uniqueness, oversized rows, and bodies that are valid JSON."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pyarrow as pa

from exporter.batching import Envelope, make_batches
from tests.reference_contract import MANUFACTURING_ORDERS

ENVELOPE = Envelope("INV_OOTB")


def record_batch(n: int, *, start: int = 0, width: int = 10, same_key: bool = False) -> pa.RecordBatch:
    base = datetime(2025, 1, 1)
    texts = [orjson.dumps({"order_number": f"MO-{start + i}", "pad": "x" * width}).decode() for i in range(n)]
    columns: dict[str, object] = {
        "order_number": [f"MO-{0 if same_key else start + i}" for i in range(n)],
        "product_id": ["P"] * n,
        "location_id": ["L"] * n,
        "updated_at": pa.array([base + timedelta(seconds=0 if same_key else i) for i in range(n)]),
    }
    # batching carries the other attributes through untouched, so they may be empty here
    columns |= {name: pa.nulls(n, pa.string()) for name in MANUFACTURING_ORDERS.attribute_names if name not in columns}
    columns |= {
        "key_hash": pa.array([0 if same_key else start + i for i in range(n)], type=pa.uint64()),
        "content_hash": pa.array(range(n), type=pa.uint64()),
        "order_hash": pa.array([0 if same_key else start + i for i in range(n)], type=pa.uint64()),
        "row_json": texts,
        "row_bytes": [len(t.encode()) for t in texts],
    }
    return pa.RecordBatch.from_pydict(columns)


def test_batches_hold_at_most_batch_size_rows_and_keep_every_row_in_order() -> None:
    batches = list(make_batches([record_batch(700), record_batch(600, start=700)],
                                envelope=ENVELOPE, batch_size=500, max_bytes=10**7))
    assert [b.size for b in batches] == [500, 500, 300]
    numbers = [orjson.loads(t)["order_number"] for b in batches for t in b.rows_json]
    assert numbers == [f"MO-{i}" for i in range(1300)]
    # the Arrow rows recorded in state line up with the JSON rows sent
    assert [n for b in batches for n in b.rows.column("order_number").to_pylist()] == numbers


def test_bodies_respect_the_byte_cap_and_parse_as_the_api_envelope() -> None:
    batches = list(make_batches([record_batch(300, width=1000)], envelope=ENVELOPE, batch_size=500, max_bytes=50_000))
    assert len(batches) > 1
    for batch in batches:
        body = ENVELOPE.body_of(batch)
        assert len(body) <= 50_000
        assert len(body) == batch.body_bytes
        parsed = orjson.loads(body)
        assert parsed["solutionName"] == "INV_OOTB" and parsed["operationType"] == "UPSERT"
        assert len(parsed["data"]) == batch.size


def test_two_rows_with_the_same_key_never_share_a_request() -> None:
    batches = list(make_batches([record_batch(3, same_key=True)], envelope=ENVELOPE, batch_size=500, max_bytes=10**6))
    assert [b.size for b in batches] == [1, 1, 1]


def test_a_row_larger_than_any_request_is_isolated_and_marked_oversized() -> None:
    small = record_batch(2)
    huge = record_batch(1, start=2, width=5000)
    tail = record_batch(2, start=3)
    batches = list(make_batches([small, huge, tail], envelope=ENVELOPE, batch_size=500, max_bytes=2000))
    assert [(b.size, b.oversized) for b in batches] == [(2, False), (1, True), (2, False)]
    assert batches[1].rows.column("order_number").to_pylist() == ["MO-2"]


def test_api_dry_run_envelope_carries_the_dry_run_flag() -> None:
    body = Envelope("INV_OOTB", dry_run=True).body(['{"a":1}'])
    assert orjson.loads(body) == {"solutionName": "INV_OOTB", "operationType": "UPSERT", "dryRun": True,
                                  "data": [{"a": 1}]}


def test_splitting_a_batch_keeps_rows_and_json_aligned() -> None:
    (batch,) = make_batches([record_batch(5)], envelope=ENVELOPE, batch_size=500, max_bytes=10**6)
    left, right = batch.split()
    assert (left.size, right.size) == (2, 3)
    assert right.rows.column("order_number").to_pylist() == ["MO-2", "MO-3", "MO-4"]
    assert [orjson.loads(t)["order_number"] for t in right.rows_json] == ["MO-2", "MO-3", "MO-4"]


def test_a_body_joined_in_arrow_across_record_batches_equals_the_rows_texts_joined() -> None:
    # 700 + 600 rows in requests of 500: the second request holds rows of both record batches (two chunks)
    batches = list(make_batches([record_batch(700), record_batch(600, start=700)],
                                envelope=ENVELOPE, batch_size=500, max_bytes=10**7))
    assert batches[1].rows.column("row_json").num_chunks == 2
    for batch in batches:
        assert ENVELOPE.body_of(batch) == ENVELOPE.body(batch.rows_json)
        assert len(ENVELOPE.body_of(batch)) == batch.body_bytes
    left, right = batches[1].split()
    assert orjson.loads(ENVELOPE.body_of(left))["data"][-1]["order_number"] == "MO-749"
    assert orjson.loads(ENVELOPE.body_of(right))["data"][0]["order_number"] == "MO-750"
