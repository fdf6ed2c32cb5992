"""Cut the stream of rows to send into API requests.

A request holds at most ``batch_size`` rows and at most ``max_bytes`` of body, and never two rows with the
same primary key. The rows' JSON was rendered by DuckDB, so a body is the envelope's prefix, the row texts
joined by commas, and the suffix: no per-row encoding in Python. A row too large to fit any request on its
own is yielded as a single-row batch marked ``oversized``; the delivery stage records it as rejected without
sending it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import orjson
import pyarrow as pa

from exporter.contract import MANUFACTURING_ORDERS


@dataclass(frozen=True)
class Envelope:
    """The request body around the rows: ``{"solutionName":…,"operationType":…,"data":[ rows ]}``."""

    solution_name: str
    operation_type: str = "UPSERT"
    dry_run: bool = False

    @property
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
        return self.prefix + ",".join(rows_json).encode() + self.suffix


@dataclass
class Batch:
    seq: int
    #: RECORD_COLUMNS: what the state records for each row
    rows: pa.Table
    rows_json: list[str]
    oversized: bool = False
    body_bytes: int = field(default=0)

    @property
    def size(self) -> int:
        return len(self.rows_json)

    def split(self) -> tuple[Batch, Batch]:
        """Halves of this batch (to isolate a row the API refuses as a whole request)."""
        mid = self.size // 2
        return (
            Batch(self.seq, self.rows.slice(0, mid), self.rows_json[:mid]),
            Batch(self.seq, self.rows.slice(mid), self.rows_json[mid:]),
        )


#: what the ledger records of each row sent: the typed attributes (the acknowledged content), the
#: fingerprints (the order's identity is what the acknowledged content is keyed by) and the payload
RECORD_COLUMNS = [*MANUFACTURING_ORDERS.attribute_names, "key_hash", "content_hash", "order_hash", "row_json"]


def make_batches(
    record_batches: Iterable[pa.RecordBatch], *, envelope: Envelope, batch_size: int, max_bytes: int
) -> Iterator[Batch]:
    """Group streamed rows into batches that respect the row cap, the byte cap and key uniqueness."""
    overhead = envelope.overhead
    seq = 0
    pending_parts: list[pa.Table] = []
    pending_json: list[str] = []
    pending_keys: set[int] = set()
    pending_bytes = overhead

    def flush() -> Batch:
        nonlocal seq, pending_parts, pending_json, pending_keys, pending_bytes
        seq += 1
        batch = Batch(seq, pa.concat_tables(pending_parts), pending_json, body_bytes=pending_bytes)
        pending_parts, pending_json, pending_keys, pending_bytes = [], [], set(), overhead
        return batch

    for record_batch in record_batches:
        if record_batch.num_rows == 0:
            continue
        table = pa.Table.from_batches([record_batch]).select(RECORD_COLUMNS)
        texts: list[str] = table.column("row_json").to_pylist()
        sizes: list[int] = record_batch.column("row_bytes").to_pylist()
        # equal keys have equal hashes, so this never lets a repeated key through (a collision only
        # starts a new request early)
        keys: list[int] = table.column("key_hash").to_pylist()
        start = 0  # first row of `table` not yet placed in pending_parts
        for i, text in enumerate(texts):
            size = sizes[i]
            if overhead + size > max_bytes:
                if i > start:
                    pending_parts.append(table.slice(start, i - start))
                if pending_json:
                    yield flush()
                seq += 1
                yield Batch(seq, table.slice(i, 1), [text], oversized=True, body_bytes=overhead + size)
                start = i + 1
                continue
            separator = 1 if pending_json else 0
            if (
                len(pending_json) >= batch_size
                or pending_bytes + separator + size > max_bytes
                or keys[i] in pending_keys
            ):
                if i > start:
                    pending_parts.append(table.slice(start, i - start))
                    start = i
                yield flush()
                separator = 0
            pending_json.append(text)
            pending_keys.add(keys[i])
            pending_bytes += separator + size
        if start < table.num_rows:
            pending_parts.append(table.slice(start))
    if pending_json:
        yield flush()

