"""The sandbox's row store: a SQLite file (WAL) holding every write, and what is stored per primary key.

Each accepted row ends up in the ``row_writes`` log; the view ``stored_rows`` gives one row per
(object, primary key): the JSON of its latest write, when it was first and last written, how many times
it was written and the id of the request that wrote it last. Tests and the chaos run see re-sends and
duplicates there (``write_count``) and the full history in ``row_writes``.

Writing is the hot path (50 requests/s of 2,000 rows), reading happens once a test or a run is over. So a
write is one ``insert`` of the request's rows as one JSON document into ``request_writes`` (for a request
whose rows are all stored, the body as it came, not even re-serialised), and only a read expands those
documents into ``row_writes``, in write order, in one transaction. Measured at 2,000 rows: ~0.5 ms per
write against ~7 ms for one ``row_writes`` row per stored row (the inserts, and each row's and key's JSON).
APPEND and the stored-row count need the stored keys at write time, so they are kept in memory as tuples
(rebuilt from the file when an existing store is opened). Writes happen on the server's event-loop thread;
the app runs them all on one thread of their own. Readers (``iter_records``, after ``expand``) open their own
connection, which WAL allows beside the writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from mo_export_dev.sandbox.contract import PRIMARY_KEY

_SCHEMA = (
    """
    create table if not exists request_writes (
        seq integer primary key,
        object_name text not null,
        payload blob not null,
        is_envelope integer not null,
        written_at text not null,
        request_id text not null
    )
    """,
    """
    create table if not exists row_writes (
        seq integer primary key,
        object_name text not null,
        row_key text not null,
        row_json text not null,
        written_at text not null,
        request_id text not null
    )
    """,
    """
    create view if not exists stored_rows as
    with keys as (
        select object_name, row_key, max(seq) as seq, min(written_at) as first_written_at,
            max(written_at) as last_written_at, count(*) as write_count
        from row_writes
        group by object_name, row_key
    )
    select keys.object_name, keys.row_key, latest.row_json, keys.first_written_at, keys.last_written_at,
        keys.write_count, latest.request_id
    from keys
    join row_writes as latest on latest.seq = keys.seq
    """,
)

_INSERT = (
    "insert into row_writes (object_name, row_key, row_json, written_at, request_id) values (?, ?, ?, ?, ?)"
)


_key_values = itemgetter(*PRIMARY_KEY)
Key = tuple[Any, ...]


class RowStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("pragma journal_mode = wal")
        # no fsync: a crash of the sandbox process loses nothing (the OS has the pages); only a crash of
        # the machine could, which a test sandbox can afford. fsyncs at checkpoints cost ~2 ms a request here.
        self._conn.execute("pragma synchronous = off")
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self.expand()
        self._keys: dict[str, set[Key]] = {}
        for object_name, key in self._conn.execute("select distinct object_name, row_key from row_writes"):
            self._keys.setdefault(object_name, set()).add(tuple(orjson.loads(key)))

    def upsert(self, object_name: str, rows: Sequence[dict[str, Any]], request_id: str,
               envelope: bytes | None = None) -> None:
        """Store ``rows``; ``envelope`` is the request's body when its ``data`` is exactly ``rows``."""
        payload = envelope if envelope is not None else orjson.dumps(rows)
        self.upsert_judged(object_name, list(map(_key_values, rows)), payload, envelope is not None, request_id)

    def upsert_judged(self, object_name: str, keys: list[Key], payload: bytes, is_envelope: bool,
                      request_id: str) -> None:
        """Store rows already judged: their keys, and their JSON array (or the envelope holding it as ``data``)."""
        if not keys:
            return
        self._conn.execute(_INSERT_REQUEST, (object_name, payload, is_envelope, _now(), request_id))
        self._keys.setdefault(object_name, set()).update(keys)

    def append(self, object_name: str, rows: Sequence[dict[str, Any]], request_id: str) -> list[int]:
        """Insert the rows whose key is not stored yet; the positions (in ``rows``) of those that were."""
        keys = list(map(_key_values, rows))
        stored = self._keys.get(object_name, set())
        refused = [i for i, key in enumerate(keys) if key in stored]
        if refused:
            skip = set(refused)
            rows = [row for i, row in enumerate(rows) if i not in skip]
            keys = [key for i, key in enumerate(keys) if i not in skip]
        if rows:
            self.upsert_judged(object_name, keys, orjson.dumps(rows), False, request_id)
        return refused

    def count(self) -> int:
        """How many distinct (object, primary key) rows are stored."""
        return sum(len(keys) for keys in self._keys.values())

    def clear(self) -> None:
        self._conn.execute("begin immediate")
        try:
            self._conn.execute("delete from request_writes")
            self._conn.execute("delete from row_writes")
        except BaseException:
            self._conn.execute("rollback")
            raise
        self._conn.execute("commit")
        self._keys.clear()

    def iter_records(self) -> Iterator[bytes]:
        """Every stored row as one JSON line (``object_name``, ``key``, ``row``, write times and count,
        ``request_id``), read on a connection of its own: what was written up to the last :meth:`expand`."""
        reader = sqlite3.connect(self.path)
        try:
            cursor = reader.execute(
                "select object_name, row_key, row_json, first_written_at, last_written_at, write_count,"
                " request_id from stored_rows order by object_name, row_key"
            )
            while batch := cursor.fetchmany(1000):
                yield b"".join(
                    orjson.dumps(
                        {
                            "object_name": object_name,
                            "key": orjson.Fragment(key),
                            "row": orjson.Fragment(row_json),
                            "first_written_at": first,
                            "last_written_at": last,
                            "write_count": count,
                            "request_id": request_id,
                        }
                    )
                    + b"\n"
                    for object_name, key, row_json, first, last, count, request_id in batch
                )
        finally:
            reader.close()

    def close(self) -> None:
        self._conn.close()

    def expand(self) -> None:
        """Move the requests written since the last read into ``row_writes``, one row per stored row."""
        self._conn.execute("begin immediate")
        try:
            pending = self._conn.execute(
                "select seq, object_name, payload, is_envelope, written_at, request_id from request_writes"
                " order by seq"
            )
            last = None
            for seq, object_name, payload, is_envelope, written_at, request_id in pending.fetchall():
                rows = orjson.loads(payload)
                if is_envelope:
                    rows = rows["data"]
                self._conn.executemany(_INSERT, [
                    (object_name, orjson.dumps(_key_values(row)).decode(), orjson.dumps(row).decode(), written_at,
                     request_id)
                    for row in rows
                ])
                last = seq
            if last is not None:
                self._conn.execute("delete from request_writes where seq <= ?", (last,))
        except BaseException:
            self._conn.execute("rollback")
            raise
        self._conn.execute("commit")


_INSERT_REQUEST = (
    "insert into request_writes (object_name, payload, is_envelope, written_at, request_id) values (?, ?, ?, ?, ?)"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
