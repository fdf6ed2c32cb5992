"""The pinned change set: a reviewed plan written by `mo-export plan --out`, read by `mo-export run --plan`.

A plan file is JSON: the format and its version, when it was made, the model relation and the destination
it was computed for, the decision's mode (``full_refresh``, ``retry_rejected``), the counts and attribute
changes a reviewer saw, and the rows to send, each as the object's key columns and ``content_fingerprint``
(16 hex digits: :func:`exporter.fingerprints.content_hash_sql` of the row's attributes). A run with the file
sends those rows and no others, and only while they are exactly what the decision would send
(:mod:`exporter.decide`); every problem with the file is a :class:`~exporter.errors.PlanFileError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from exporter.contract import TIMESTAMP_FORMAT, ObjectContract
from exporter.destination import Destination
from exporter.errors import ConfigError, PlanFileError
from exporter.output_paths import write_output

FORMAT = "mo-export-plan"
#: version 2: the decision's mode is recorded (a full-refresh plan sends its rows although acknowledged)
VERSION = 2


def row_columns(obj: ObjectContract) -> list[str]:
    """What a plan file lists of each row: the object's key columns and the content's fingerprint."""
    return [*obj.primary_key, "content_fingerprint"]


@dataclass(frozen=True)
class PlanFile:
    path: Path
    created_at: str
    model_relation: str
    destination: Destination
    full_refresh: bool
    retry_rejected: bool
    #: the key columns (timestamps typed) and ``content_hash`` (uint64) of every row the plan sends
    rows: pa.Table


def write_plan(
    path: Path, *, model_relation: str, destination: Destination, summary: dict[str, Any], rows: pa.Table,
    contract: ObjectContract,
) -> None:
    """Write the plan atomically; ``rows`` as :meth:`exporter.model.ContractModel.selected_keys` returns them,
    ``summary`` as :func:`exporter.decide.plan_summary` (it carries ``full_refresh`` and ``retry_rejected``)."""
    columns = [rows.column(c).to_pylist() for c in contract.primary_key]
    hashes = [f"{h:016x}" for h in rows.column("content_hash").to_pylist()]
    listed = [list(r) for r in zip(*columns, hashes, strict=True)]
    document = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_relation": model_relation,
        "destination": {
            "base_url": destination.base_url,
            "path": destination.path,
            "object_name": destination.object_name,
            "solution_name": destination.solution_name,
            # a salted hash of the token (never the token): the plan belongs to one tenant at that URL
            "token_fingerprint": destination.token_fingerprint,
        },
        **summary,
        "row_columns": row_columns(contract),
        "rows": listed,
    }
    try:
        write_output(path, orjson.dumps(document, default=str, option=orjson.OPT_INDENT_2))
    except OSError as exc:
        raise PlanFileError(f"plan file {path} cannot be written: {exc.strerror or exc}") from None


def read_plan(path: Path, contract: ObjectContract) -> PlanFile:
    """Read and check a plan file of ``contract``'s object; any problem is a :class:`ConfigError` naming the
    file and the problem."""
    expected = row_columns(contract)

    def bad(problem: str) -> ConfigError:
        return PlanFileError(f"plan file {path}: {problem}; nothing was sent. Make it with `mo-export plan --out`.")

    try:
        document = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise bad("does not exist") from None
    except OSError as exc:
        raise bad(f"cannot be read ({exc.strerror or exc})") from None
    except orjson.JSONDecodeError as exc:
        raise bad(f"is not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise bad(f"is not a plan (no \"format\": \"{FORMAT}\")")
    if document.get("version") != VERSION:
        raise bad(f"has version {document.get('version')!r}; this exporter reads version {VERSION}")
    relation = document.get("model_relation")
    if not isinstance(relation, str) or not relation:
        raise bad("field model_relation is missing or not a string")
    target = document.get("destination")
    fields = ("base_url", "path", "object_name", "solution_name")
    if not isinstance(target, dict) or not all(isinstance(target.get(f), str) for f in fields):
        raise bad(f"field destination must be an object with the strings {', '.join(fields)}")
    if document.get("row_columns") != expected:
        raise bad(f"field row_columns must be {expected} (the key of {contract.model_name})")
    rows = document.get("rows")
    if not isinstance(rows, list):
        raise bad("field rows is missing or not a list")
    width = len(expected)
    columns: list[list[str]] = [[] for _ in expected]
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width or not all(isinstance(v, str) for v in row):
            raise bad(f"row {i + 1} is not a list of {width} strings ({', '.join(expected)})")
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    typed: dict[str, pa.Array] = {}
    for name, values in zip(contract.primary_key, columns, strict=False):
        if name not in contract.timestamps:
            typed[name] = pa.array(values, pa.string())
            continue
        try:
            typed[name] = pc.strptime(pa.array(values, pa.string()), format=TIMESTAMP_FORMAT, unit="us")
        except pa.ArrowInvalid:
            first = next(i for i, v in enumerate(values) if not _is_timestamp(v))
            raise bad(f"row {first + 1}: {name} {values[first]!r} is not {TIMESTAMP_FORMAT}") from None
    for flag in ("full_refresh", "retry_rejected"):
        if not isinstance(document.get(flag), bool):
            raise bad(f"field {flag} is missing or not true/false")
    hashes = []
    for i, text in enumerate(columns[-1]):
        try:
            if len(text) != 16:
                raise ValueError
            hashes.append(int(text, 16))
        except ValueError:
            raise bad(f"row {i + 1}: content_fingerprint {text!r} is not 16 hex digits") from None
    table = pa.table({**typed, "content_hash": pa.array(hashes, pa.uint64())})
    return PlanFile(
        path=path,
        created_at=str(document.get("created_at") or ""),
        model_relation=relation,
        destination=Destination(**{f: target[f] for f in fields}, token_fingerprint=_fingerprint(target)),
        full_refresh=document["full_refresh"],
        retry_rejected=document["retry_rejected"],
        rows=table,
    )


def _is_timestamp(value: str) -> bool:
    try:
        datetime.strptime(value, TIMESTAMP_FORMAT)
    except ValueError:
        return False
    return True


def _fingerprint(target: dict[str, Any]) -> str | None:
    """The destination's token fingerprint, if the plan recorded one as a string."""
    value = target.get("token_fingerprint")
    return value if isinstance(value, str) else None
