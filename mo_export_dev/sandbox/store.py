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
the app runs them all on one thread of their own. Readers (``iter_records``, ``failed_rows``, after ``expand``)
open their own connection, which WAL allows beside the writer.

Each object keeps its own rows, keyed by its own primary key (:func:`mo_export_dev.sandbox.contract.object_contract`):
manufacturing orders by (product_id, location_id, order_number, updated_at), Locations by (location_id,
updated_at). ``failed_rows`` is the platform's later foreign-key check, computed from what is stored when asked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from mo_export_dev.sandbox.contract import (
    LOCATION_NOT_FACTORY,
    LOCATION_NOT_FOUND,
    LOCATIONS_OBJECT,
    object_contract,
)

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

Key = tuple[Any, ...]


#: Which stored objects ``iter_records`` reads: every one but Locations (the manufacturing orders, what the
#: sandbox always listed), or all of them.
ORDERS: str = "orders"
ALL_OBJECTS: str = "*"


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
        keys = list(map(object_contract(object_name).key_values, rows))
        self.upsert_judged(object_name, keys, payload, envelope is not None, request_id)

    def upsert_judged(self, object_name: str, keys: list[Key], payload: bytes, is_envelope: bool,
                      request_id: str) -> None:
        """Store rows already judged: their keys, and their JSON array (or the envelope holding it as ``data``)."""
        if not keys:
            return
        self._conn.execute(_INSERT_REQUEST, (object_name, payload, is_envelope, _now(), request_id))
        self._keys.setdefault(object_name, set()).update(keys)

    def append(self, object_name: str, rows: Sequence[dict[str, Any]], request_id: str) -> list[int]:
        """Insert the rows whose key is not stored yet; the positions (in ``rows``) of those that were."""
        keys = list(map(object_contract(object_name).key_values, rows))
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

    def count_by_object(self) -> dict[str, int]:
        """How many distinct primary keys are stored, per object (objects with none left out)."""
        return {name: len(keys) for name, keys in sorted(self._keys.items()) if keys}

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

    def iter_records(self, objects: str | Collection[str] = ORDERS) -> Iterator[bytes]:
        """Every stored row of ``objects`` as one JSON line (``object_name``, ``key``, ``row``, write times and
        count, ``request_id``), read on a connection of its own: what was written up to the last :meth:`expand`.

        ``objects``: :data:`ORDERS` (every object but Locations: the manufacturing orders), :data:`ALL_OBJECTS`,
        or the object names to read."""
        if objects == ORDERS:
            where, parameters = "where object_name != ?", [LOCATIONS_OBJECT]
        elif objects == ALL_OBJECTS:
            where, parameters = "", []
        else:
            names = sorted(objects)
            where, parameters = f"where object_name in ({', '.join('?' * len(names))})", names
        reader = sqlite3.connect(self.path)
        try:
            cursor = reader.execute(
                "select object_name, row_key, row_json, first_written_at, last_written_at, write_count,"
                f" request_id from stored_rows {where} order by object_name, row_key",
                parameters,
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

    def failed_rows(self) -> list[dict[str, Any]]:
        """Every stored manufacturing order whose location_id is not a stored Locations row that is a factory
        (``is_factory`` true in its latest version, the highest ``updated_at`` of that location_id), ordered by
        object and key: ``{"object_name", "key", "order_number", "location_id", "reason", "message",
        "location_updated_at"}``. Read on a connection of its own, from what was written up to the last
        :meth:`expand`."""
        reader = sqlite3.connect(self.path)
        try:
            # location_id -> (updated_at, is_factory) of its latest version; timestamps have one fixed text
            # form, so the highest text is the latest time
            latest: dict[str, tuple[str, bool]] = {}
            for location_id, updated_at, is_factory in reader.execute(
                "select json_extract(row_json, '$.location_id'), json_extract(row_json, '$.updated_at'),"
                " json_extract(row_json, '$.is_factory') from stored_rows where object_name = ?",
                (LOCATIONS_OBJECT,),
            ):
                known = latest.get(location_id)
                if known is None or updated_at > known[0]:
                    latest[location_id] = (updated_at, bool(is_factory))
            failed = []
            for object_name, key, order_number, location_id in reader.execute(
                "select object_name, row_key, json_extract(row_json, '$.order_number'),"
                " json_extract(row_json, '$.location_id') from stored_rows where object_name != ?"
                " order by object_name, row_key",
                (LOCATIONS_OBJECT,),
            ):
                version = latest.get(location_id)
                if version is not None and version[1]:
                    continue
                if version is None:
                    reason = LOCATION_NOT_FOUND
                    message = f"location_id '{location_id}' is not a stored {LOCATIONS_OBJECT} row"
                else:
                    reason = LOCATION_NOT_FACTORY
                    message = (f"location_id '{location_id}' is not a factory: its latest {LOCATIONS_OBJECT} row"
                               f" ({version[0]}) has is_factory false")
                failed.append({
                    "object_name": object_name,
                    "key": orjson.loads(key),
                    "order_number": order_number,
                    "location_id": location_id,
                    "reason": reason,
                    "message": message,
                    "location_updated_at": None if version is None else version[0],
                })
            return failed
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
                key_values = object_contract(object_name).key_values
                self._conn.executemany(_INSERT, [
                    (object_name, orjson.dumps(key_values(row)).decode(), orjson.dumps(row).decode(), written_at,
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
