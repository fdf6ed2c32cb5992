"""The typed values the HTTP client hands the delivery stage: what one request, or one batch, came to.

The client (:mod:`exporter.client`) turns every exchange into one :data:`Outcome` and retries the
transient ones itself; what it hands back for a batch is a :data:`BatchOutcome`, and it raises nothing
for an answer the API (or anything in front of it) can give. The delivery stage (:mod:`exporter.deliver`)
is the only code that turns outcomes into row verdicts, bisection and exit codes.

* :class:`Acknowledged` - positive evidence about this request: the API's success object, parsed strictly,
  counts matching the batch, a ``requestId`` not seen for another batch of the destination. Its
  ``rejections`` are the rows the API failed (by index in the batch); every other row is acknowledged.
* :class:`Unconfirmed` - nothing proves delivery (5xx, 429, timeouts, a 2xx that is not the success object,
  a replayed ``requestId``, ...). Retried by the client; never handed on as a verdict.
* :class:`Refused` - 400/413 for the request as a whole. The delivery stage bisects it to find rows the API
  refuses alone, or stops when every half repeats the refusal (a refusal of the request, not of rows).
* :class:`GaveUp` - the client stopped retrying an :class:`Unconfirmed` batch (attempts or budget spent).
* :class:`Fatal` - stop the run: a redirect, 401/403/404, another 4xx, an untrusted certificate.
* :class:`Stopped` - the run was asked to stop before this batch had an answer; its rows stay pending.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from exporter import errors


@dataclass(frozen=True)
class RowRejection:
    """One row the API (or the exporter, before sending) refused, with the reason; ``row_index`` is the
    row's position in the batch that was sent."""

    row_index: int
    error_code: str
    message: str
    category: str | None = None
    column_name: str | None = None
    http_status: int | None = None


@dataclass(frozen=True)
class Acknowledged:
    """The API confirmed the request: every row but the rejected ones is acknowledged."""

    request_id: str
    rejections: tuple[RowRejection, ...] = ()
    #: :func:`request_key` of the id as the API sent it (the ``request_id`` shown is masked)
    request_key: str = ""


@dataclass(frozen=True)
class Unconfirmed:
    """Nothing proves delivery; retry. ``reason`` says what came back (token masked, control characters
    escaped)."""

    reason: str
    retry_after: float | None = None
    throttled: bool = False


@dataclass(frozen=True)
class Refused:
    """400/413: the whole request was refused.

    ``from_api``: the body is the API's error object (a JSON object). Only then can a refusal of a single row
    be a verdict on that row; a proxy's own page is bisected all the same (a smaller body may pass a proxy's
    size limit) but never recorded as a row's rejection.
    """

    status: int
    detail: str
    from_api: bool = True
    came_back: str = ""


@dataclass(frozen=True)
class GaveUp:
    """The client stopped retrying: ``reason`` names the attempts or the budget and the last answer."""

    reason: str


@dataclass(frozen=True)
class Fatal:
    """Stop the run: retrying or bisecting cannot help."""

    error: errors.ExportError


@dataclass(frozen=True)
class Stopped:
    """The run was asked to stop (SIGTERM/SIGINT) before this batch had an answer."""

    reason: str = "stopped by a signal before the batch had an answer; its rows stay pending"


#: what one HTTP exchange came to
Outcome = Acknowledged | Unconfirmed | Refused | Fatal
#: what the client hands back for one batch (it retried every Unconfirmed first)
BatchOutcome = Acknowledged | Refused | GaveUp | Fatal | Stopped


def exit_code_of(outcome: Outcome | BatchOutcome) -> int:
    """The exit code a run ends with when a one-row batch has this outcome; `mo-export check` reports the
    same, so the two never disagree: 0 acknowledged, 1 the row failed (the API's ``failed``), 2 nothing
    confirmed, 3 a fatal answer or a refusal of the one-row request (no other part of the batch was taken,
    so a run records no row rejected and stops: :mod:`exporter.deliver`)."""
    if isinstance(outcome, Acknowledged):
        return errors.EXIT_REJECTED_ROWS if outcome.rejections else errors.EXIT_OK
    if isinstance(outcome, Refused):
        return errors.EXIT_CONFIG_ERROR
    if isinstance(outcome, Unconfirmed | GaveUp | Stopped):
        return errors.EXIT_DELIVERY_FAILED
    return outcome.error.exit_code


_REQUEST_KEY_SALT = b"mo-export requestId"


def request_key(request_id: str) -> str:
    """A keyed digest of a ``requestId`` as the API sent it: what replay detection compares and the ledger
    keeps, so an id that carries an echoed token is compared whole but never stored whole."""
    return hmac.new(_REQUEST_KEY_SALT, request_id.encode(), hashlib.sha256).hexdigest()[:32]


class RequestIds:
    """The :func:`request_key` of every ``requestId`` the destination has acknowledged: in the ledger from
    earlier runs, and claimed by this run's batches. A success body whose id is already here belongs to
    another batch (a caching proxy replaying an answer): it proves nothing about this request. Shared by
    the sender threads."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._seen = set(known)
        self._lock = threading.Lock()

    def claim(self, request_id: str) -> bool:
        """Record ``request_id`` for one batch; False if another batch (or an earlier run) had it."""
        with self._lock:
            if request_id in self._seen:
                return False
            self._seen.add(request_id)
            return True
