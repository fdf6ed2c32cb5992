"""Cut the stream of rows to send into API requests.

A request holds at most ``batch_size`` rows and at most ``max_bytes`` of body, and never two rows with the
same primary key. The rows' JSON was rendered by DuckDB, with its byte count and fingerprints, in the one
pass that reads the row; it stays in Arrow. A body is the envelope's prefix, the row texts joined by commas
inside Arrow (:func:`pyarrow.compute.binary_join`, one copy per chunk), and the suffix: no row becomes a
Python string, none is encoded or measured a second time. A row too large to fit any request on its own is
yielded as a single-row batch marked ``oversized``; the delivery stage records it as rejected without
sending it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import orjson
import pyarrow as pa
import pyarrow.compute as pc

#: where a body's joined rows are built: the C library's heap, which gives freed blocks back as Python's
#: own bytes do, rather than jemalloc's arenas, which keep them for a while (RSS grew by tens of MB)
_BODY_POOL = pa.system_memory_pool()


@dataclass(frozen=True)
class Envelope:
    """The request body around the rows: ``{"solutionName":…,"operationType":…,"data":[ rows ]}``."""

    solution_name: str
    operation_type: str = "UPSERT"
    dry_run: bool = False

    @cached_property
    def prefix(self) -> bytes:
        head = {"solutionName": self.solution_name, "operationType": self.operation_type}
        if self.dry_run:
            head["dryRun"] = True  # type: ignore[assignment]
        return orjson.dumps(head)[:-1] + b',"data":['

    suffix = b"]}"

    @property
    def overhead(self) -> int:
        return len(self.prefix) + len(self.suffix)

    def body(self, rows_json: Sequence[str]) -> bytes:
        """The body of rows given as texts (`mo-export check`'s one row)."""
        return self.prefix + ",".join(rows_json).encode() + self.suffix

    def body_of(self, batch: Batch) -> bytes:
        """The body of ``batch``: its rows' JSON joined inside Arrow, copied once more into the body."""
        parts: list[bytes | pa.Buffer] = [self.prefix]
        for chunk in batch.rows.column("row_json").chunks:
            if len(chunk):
                if len(parts) > 1:
                    parts.append(b",")
                one_list = pa.ListArray.from_arrays(pa.array([0, len(chunk)], type=pa.int32()), chunk)
                parts.append(pc.binary_join(one_list, ",", memory_pool=_BODY_POOL)[0].as_buffer())
        parts.append(self.suffix)
        return b"".join(parts)


@dataclass
class Batch:
    seq: int
    #: the stream's columns but row_bytes: what the state records for each row, the JSON sent among them
    rows: pa.Table
    oversized: bool = False
    body_bytes: int = field(default=0)

    @property
    def size(self) -> int:
        return self.rows.num_rows

    @property
    def rows_json(self) -> list[str]:
        """The rows' JSON as Python strings (for tests and messages; sending never needs them)."""
        return self.rows.column("row_json").to_pylist()

    def split(self) -> tuple[Batch, Batch]:
        """Halves of this batch (to isolate a row the API refuses as a whole request)."""
        mid = self.size // 2
        return Batch(self.seq, self.rows.slice(0, mid)), Batch(self.seq, self.rows.slice(mid))


#: the stream's column that only batching reads; every other column travels with the row to the ledger:
#: the typed attributes (the acknowledged content), the fingerprints (the record's identity is what the
#: acknowledged content is keyed by) and the payload
_ROW_BYTES = "row_bytes"


def make_batches(
    record_batches: Iterable[pa.RecordBatch], *, envelope: Envelope, batch_size: int, max_bytes: int
) -> Iterator[Batch]:
    """Group streamed rows into batches that respect the row cap, the byte cap and key uniqueness."""
    overhead = envelope.overhead
    seq = 0
    pending_parts: list[pa.Table] = []
    pending_rows = 0
    pending_keys: set[int] = set()
    pending_bytes = overhead

    def flush() -> Batch:
        nonlocal seq, pending_parts, pending_rows, pending_keys, pending_bytes
        seq += 1
        batch = Batch(seq, pa.concat_tables(pending_parts), body_bytes=pending_bytes)
        pending_parts, pending_rows, pending_keys, pending_bytes = [], 0, set(), overhead
        return batch

    for record_batch in record_batches:
        if record_batch.num_rows == 0:
            continue
        table = pa.Table.from_batches([record_batch])
        sizes: list[int] = table.column(_ROW_BYTES).to_pylist()
        table = table.drop_columns([_ROW_BYTES])
        # the byte counts DuckDB measured while rendering; the key fingerprints (equal keys have equal
        # hashes, so this never lets a repeated key through; a collision only starts a new request early)
        keys: list[int] = table.column("key_hash").to_pylist()
        start = 0  # first row of `table` not yet placed in pending_parts
        for i, size in enumerate(sizes):
            if overhead + size > max_bytes:
                if i > start:
                    pending_parts.append(table.slice(start, i - start))
                if pending_rows:
                    yield flush()
                seq += 1
                yield Batch(seq, table.slice(i, 1), oversized=True, body_bytes=overhead + size)
                start = i + 1
                continue
            separator = 1 if pending_rows else 0
            if (
                pending_rows >= batch_size
                or pending_bytes + separator + size > max_bytes
                or keys[i] in pending_keys
            ):
                if i > start:
                    pending_parts.append(table.slice(start, i - start))
                    start = i
                yield flush()
                separator = 0
            pending_rows += 1
            pending_keys.add(keys[i])
            pending_bytes += separator + size
        if start < table.num_rows:
            pending_parts.append(table.slice(start))
    if pending_rows:
        yield flush()

