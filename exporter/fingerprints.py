"""The 64-bit fingerprints the export state is keyed by, as SQL over the contract model's columns.

``KEY_HASH_SQL`` identifies a row by its primary key; ``CONTENT_HASH_SQL`` identifies what was sent (all 13
typed attributes); ``ORDER_HASH_SQL`` identifies an order across its versions. All use DuckDB's vectorised
``hash()``: thirty times faster than md5 of the JSON (0.08 s against 2.4 s per million rows here).
Equal keys always hash equal, so a collision can only make two rows look like one key, which costs a
re-send, never a lost row; a changed row mistaken for unchanged needs a 2^-64 coincidence. DuckDB does not
promise the same values across versions: if an upgrade changes them, every fingerprint differs from the
state and the next run re-sends every row once (UPSERT makes that harmless).
"""

from __future__ import annotations

from exporter import contract

KEY_HASH_SQL = f"hash({', '.join(contract.PRIMARY_KEY)})"
CONTENT_HASH_SQL = "hash({" + ", ".join(f"'{name}': {name}" for name in contract.ATTRIBUTE_NAMES) + "})"
#: an order across its versions: the primary key without ``updated_at`` (a changed order arrives with a new
#: ``updated_at``, so a new key, but it is the same order); the ledger's last acknowledged content is keyed by it
ORDER_HASH_SQL = "hash(" + ", ".join(c for c in contract.PRIMARY_KEY if c != "updated_at") + ")"
