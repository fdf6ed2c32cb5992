"""The sandbox's row store: a SQLite file (WAL) holding every write, and what is stored per primary key.

Each accepted row is appended to the ``row_writes`` log; the view ``stored_rows`` gives one row per
(object, primary key): the JSON of its latest write, when it was first and last written, how many times
it was written and the id of the request that wrote it last. Tests and the chaos run see re-sends and
duplicates there (``write_count``) and the full history in ``row_writes``.

Why a log and a view rather than a table keyed by the primary key: keys arrive in random order, so each
500-row commit into a key-ordered B-tree dirties hundreds of pages; measured here that cost ~4-5 ms of
CPU per request (more than parsing, validating and HTTP together), against ~1 ms for the append.
APPEND needs to know the stored keys at write time, so they are also kept in memory (rebuilt from the
log when an existing store is opened). Writes happen on the server's event-loop thread, one
transaction per request; readers (``iter_records``) open their own connection, which WAL allows
beside the writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from exporter.contract import PRIMARY_KEY

_SCHEMA = (
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


def row_key(row: dict[str, Any]) -> str:
    """The primary key of a validated row, as stored: a JSON array of the key values in key order."""
    return orjson.dumps(_key_values(row)).decode()


def _row_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [key.decode() for key in map(orjson.dumps, map(_key_values, rows))]


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
        self._keys: dict[str, set[str]] = {}
        for object_name, key in self._conn.execute("select distinct object_name, row_key from row_writes"):
            self._keys.setdefault(object_name, set()).add(key)

    def upsert(self, object_name: str, rows: Sequence[dict[str, Any]], request_id: str) -> None:
        keys = _row_keys(rows)
        self._write(object_name, keys, rows, request_id)

    def append(self, object_name: str, rows: Sequence[dict[str, Any]], request_id: str) -> list[int]:
        """Insert the rows whose key is not stored yet; the positions (in ``rows``) of those that were."""
        keys = _row_keys(rows)
        stored = self._keys.get(object_name, set())
        refused = [i for i, key in enumerate(keys) if key in stored]
        if refused:
            skip = set(refused)
            rows = [row for i, row in enumerate(rows) if i not in skip]
            keys = [key for i, key in enumerate(keys) if i not in skip]
        self._write(object_name, keys, rows, request_id)
        return refused

    def count(self) -> int:
        """How many distinct (object, primary key) rows are stored."""
        return sum(len(keys) for keys in self._keys.values())

    def clear(self) -> None:
        self._conn.execute("begin immediate")
        try:
            self._conn.execute("delete from row_writes")
        except BaseException:
            self._conn.execute("rollback")
            raise
        self._conn.execute("commit")
        self._keys.clear()

    def iter_records(self) -> Iterator[bytes]:
        """Every stored row as one JSON line (``object_name``, ``key``, ``row``, write times and count,
        ``request_id``), read on a connection of its own."""
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

    def _write(self, object_name: str, keys: list[str], rows: Sequence[dict[str, Any]], request_id: str) -> None:
        if not rows:
            return
        now = _now()
        # (str parameters bind faster than bytes, measured: ~1.7 against ~2.4 ms for 500 rows)
        params = [
            (object_name, key, row_json.decode(), now, request_id)
            for key, row_json in zip(keys, map(orjson.dumps, rows), strict=True)
        ]
        self._conn.execute("begin immediate")
        try:
            self._conn.executemany(_INSERT, params)
        except BaseException:
            self._conn.execute("rollback")
            raise
        self._conn.execute("commit")
        self._keys.setdefault(object_name, set()).update(keys)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
