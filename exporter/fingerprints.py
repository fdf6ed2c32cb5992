"""The 64-bit fingerprints the export ledger is keyed by, as SQL over an object's columns.

``key_hash_sql`` identifies a row by its primary key; ``content_hash_sql`` identifies what was sent (every
typed attribute); ``identity_hash_sql`` identifies a record across its versions (the key without its version
column). All use DuckDB's vectorised ``hash()``: thirty times faster than md5 of the JSON (0.08 s against
2.4 s per million rows here). Equal keys always hash equal, so a collision can only make two rows look like
one key, which costs a re-send, never a lost row; a changed row mistaken for unchanged needs a 2^-64
coincidence. DuckDB does not promise the same values across versions: if an upgrade changes them, every
fingerprint differs from the ledger and the next run re-sends every row once (UPSERT makes that harmless).
"""

from __future__ import annotations

from exporter.contract import ObjectContract


def key_hash_sql(obj: ObjectContract) -> str:
    return f"hash({', '.join(obj.primary_key)})"


def content_hash_sql(obj: ObjectContract) -> str:
    return "hash({" + ", ".join(f"'{name}': {name}" for name in obj.attribute_names) + "})"


def identity_hash_sql(obj: ObjectContract) -> str:
    return f"hash({', '.join(obj.identity)})"

