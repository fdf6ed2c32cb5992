"""One ingestion request's body judged: the JSON, the envelope, then every row.

:func:`judge` is a pure function of the body and a few settings, so it runs on the event loop or, with
``SandboxConfig.workers`` > 0, in a pool of worker processes (the bulk of a request's CPU: parsing a 780 kB
body of 2,000 rows and validating them), while the event loop keeps the HTTP, the rate limit, the faults,
the counters and the store, whose state must stay one. The object named in the path decides the contract
the rows are judged against (:func:`mo_export_dev.sandbox.contract.object_contract`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from mo_export_dev.sandbox.contract import MANUFACTURING_ORDERS, OPERATIONS, Error, ObjectContract
from mo_export_dev.sandbox.validation import refuse_order_numbers, validate_rows


@dataclass(frozen=True)
class Settings:
    """What judging a body needs of the sandbox's configuration."""

    solution_name: str | None
    max_rows: int
    refused_order_numbers: frozenset[str]


@dataclass
class Verdict:
    #: (status, message) when the body is refused as a whole (bad JSON or envelope); the rest is then empty
    refusal: tuple[int, str] | None = None
    operation: str = "UPSERT"
    dry_run: bool = False
    rows: int = 0
    #: the failed rows' errors, by index in ``data``
    errors: dict[int, list[Error]] = field(default_factory=dict)
    #: for an UPSERT that stores rows: their keys, in order, and their JSON, None when every row is valid
    #: (the body itself is then what is stored)
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    payload: bytes | None = None
    #: for an APPEND: the valid rows (the store decides which of them it refuses)
    valid_rows: list[dict[str, Any]] | None = None
    #: CPU seconds spent judging (in a worker process, they are not the server process's)
    cpu_seconds: float = 0.0


def judge(body: bytes, settings: Settings, obj: ObjectContract = MANUFACTURING_ORDERS) -> Verdict:
    """The verdict on one request's body for an object whose contract is ``obj``."""
    started = time.process_time()
    verdict = _judge(body, settings, obj)
    verdict.cpu_seconds = time.process_time() - started
    return verdict


def _judge(body: bytes, settings: Settings, obj: ObjectContract) -> Verdict:
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Verdict(refusal=(400, f"the body is not valid JSON: {exc}"))
    refusal = check_envelope(settings, envelope)
    if refusal is not None:
        return Verdict(refusal=refusal)
    rows: list[Any] = envelope["data"]
    errors = validate_rows(rows, obj)
    if settings.refused_order_numbers and "order_number" in obj.column_names:
        refuse_order_numbers(rows, settings.refused_order_numbers, errors)
    valid = [row for i, row in enumerate(rows) if i not in errors] if errors else rows
    verdict = Verdict(operation=envelope["operationType"], dry_run=envelope.get("dryRun", False), rows=len(rows),
                      errors=errors)
    if verdict.dry_run or not valid:
        return verdict
    if verdict.operation == "UPSERT":
        verdict.keys = list(map(obj.key_values, valid))
        verdict.payload = None if valid is rows else orjson.dumps(valid)
    else:
        verdict.valid_rows = valid
    return verdict


def check_envelope(settings: Settings, envelope: Any) -> tuple[int, str] | None:
    if not isinstance(envelope, dict):
        return 400, "the body must be a JSON object with solutionName, data and operationType"
    solution = envelope.get("solutionName")
    if not isinstance(solution, str) or not solution:
        return 400, "solutionName must be a non-empty string"
    if settings.solution_name is not None and solution != settings.solution_name:
        # like an unknown object, a wrong address rather than a bad batch: a client must stop, not split
        return 404, f"unknown solution '{solution}'"
    operation = envelope.get("operationType")
    if operation not in OPERATIONS:
        return 400, f"operationType must be one of {', '.join(OPERATIONS)}, got {_short(operation)}"
    if "dryRun" in envelope and not isinstance(envelope["dryRun"], bool):
        return 400, "dryRun must be true or false"
    data = envelope.get("data")
    if not isinstance(data, list) or not data:
        return 400, "data must be a non-empty array of rows"
    if len(data) > settings.max_rows:
        return 400, f"too many rows: {len(data)} in one request, the limit is {settings.max_rows}"
    return None


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode() if value is not None else "nothing"
    return text if len(text) <= 40 else text[:37] + "..."


def warm_up() -> None:
    """Run in each worker at start, so the first requests do not pay for its imports."""
