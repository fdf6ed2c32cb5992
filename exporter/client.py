"""Sending a batch to the ingestion API until its outcome is known: retries, the shared rate limit, counters,
and the requests of `mo-export check`.

The layers below: :mod:`exporter.transport` makes one exchange under one deadline and reads its body within
the cap; :mod:`exporter.classify` says what the exchange means (the only place that does). This module
decides what to do next:

* :meth:`IngestionClient.attempt` - one exchange and its :data:`~exporter.outcomes.Outcome`, with the HTTP
  status (None when no answer came back). `mo-export check` uses it for its dryRun request.
* :meth:`IngestionClient.send` - a batch until it has a :data:`~exporter.outcomes.BatchOutcome`. Every
  :class:`Unconfirmed` is retried with exponential backoff and jitter (``Retry-After`` honoured, seconds
  or HTTP date); a 429 pauses every request of the run (the rate limit is the tenant's) and does not count
  as a failed attempt. After ``max_attempts`` failures, or when a wait would pass the retry budget, it is
  :class:`GaveUp` (its reason says what came back, the URL redacted, and that the rows stay pending).
  :class:`Acknowledged`, :class:`Refused` and :class:`Fatal` are returned as they came. It never raises for
  an HTTP answer or a transport error.

Stop (SIGTERM/SIGINT set the run's ``stop`` event): a request already on the wire is finished, bounded by
its ``--timeout`` deadline, and its outcome returned, so an acknowledged batch is recorded; no attempt
starts after the stop, and every wait (rate limit, backoff, Retry-After) ends at once with
:class:`Stopped`.

Why not a retry library: the policy needs the response (Retry-After, a shared pause on 429, throttles that
do not count as attempts), which is a dozen lines here and contorted configuration in one.

Why threads and a sync pool rather than asyncio: the sender threads spend their time in socket calls that
release the GIL, and the sync stack costs half the CPU per request of the async one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import orjson

from exporter import transport
from exporter.classify import classify, classify_failure, redirect_error, retry_after
from exporter.errors import ConfigError, ExportError
from exporter.masking import mask_secret
from exporter.outcomes import BatchOutcome, Fatal, GaveUp, Outcome, RequestIds, Stopped, Unconfirmed
from exporter.settings import ExportSettings, redacted_url
from exporter.transport import MAX_RESPONSE_BYTES, BodyError

log = logging.getLogger(__name__)

USER_AGENT = "mo-export/0.1"
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0

__all__ = [
    "BACKOFF_BASE_SECONDS", "MAX_RESPONSE_BYTES", "DestinationProbe", "DryRunAnswer", "HttpStats",
    "IngestionClient", "RateLimiter", "SchemaAnswer", "build_http_client",
]


@dataclass
class HttpStats:
    """Counters shared by the sender threads (updated under a lock)."""

    requests: int = 0
    retries: int = 0
    throttled_waits: int = 0
    throttled_seconds: float = 0.0
    by_status: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, status: str) -> None:
        with self._lock:
            self.by_status[status] = self.by_status.get(status, 0) + 1

    def add_request(self) -> None:
        with self._lock:
            self.requests += 1

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def add_throttle(self, seconds: float) -> None:
        with self._lock:
            self.throttled_waits += 1
            self.throttled_seconds += seconds


class RateLimiter:
    """Spaces requests evenly at ``rps`` for all sender threads of a run, and pauses them all after a 429."""

    def __init__(self, rps: float, stop: threading.Event | None = None) -> None:
        self._interval = 1.0 / rps
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self._stop = stop or threading.Event()

    def acquire(self) -> bool:
        """Wait for this request's slot; False (at once) when the run is asked to stop."""
        while True:
            if self._stop.is_set():
                return False
            with self._lock:
                now = time.monotonic()
                slot = max(self._next_slot, now, self._paused_until)
                self._next_slot = slot + self._interval
            if slot > now and self._stop.wait(slot - now):
                return False
            if time.monotonic() >= self._paused_until:
                return True

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


def build_http_client(settings: ExportSettings) -> httpcore.ConnectionPool:
    """The run's connection pool (``concurrency`` connections, TLS from ``settings.ca_bundle``, every request
    under its whole-request deadline); close it with ``.close()`` or as a context manager."""
    ca_bundle = str(settings.ca_bundle) if settings.ca_bundle is not None else None
    return transport.build_pool(settings.concurrency, ca_bundle)


class IngestionClient:
    """POSTs batches to the object endpoint; shared by the sender threads of a run."""

    def __init__(
        self,
        http: httpcore.ConnectionPool,
        settings: ExportSettings,
        limiter: RateLimiter,
        stats: HttpStats,
        request_ids: RequestIds,
        *,
        stop: threading.Event,
        rng: random.Random | None = None,
        backoff_base_seconds: float = BACKOFF_BASE_SECONDS,
    ) -> None:
        if settings.api_key is None:
            raise ConfigError("no API token configured")
        self._http = http
        self._settings = settings
        self._url = redacted_url(settings.endpoint)
        self._token = settings.api_key.reveal()
        self._headers = {
            "Authorization": self._token,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._endpoint = settings.endpoint
        self._limiter = limiter
        self._stats = stats
        self._request_ids = request_ids
        self._stop = stop
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._backoff_base = backoff_base_seconds

    def send(self, body: bytes, n_rows: int) -> BatchOutcome:
        """POST one batch until it is acknowledged, refused, fatal, given up or stopped (module docstring)."""
        failures = 0
        throttles = 0
        started = time.monotonic()
        while True:
            if self._stop.is_set() or not self._limiter.acquire():
                return Stopped()
            self._stats.add_request()
            outcome, _ = self.attempt(body, n_rows)
            if not isinstance(outcome, Unconfirmed):
                return outcome
            if outcome.throttled:
                throttles += 1
                wait = outcome.retry_after
                if not wait:  # none, or "0": back off rather than hammer the limit
                    wait = min(BACKOFF_CAP_SECONDS, self._backoff_base * 2**throttles)
                over = self._over_budget(started, outcome, wait)
                if over is not None:
                    return over
                self._stats.add_throttle(wait)
                self._limiter.pause(wait)  # the next acquire() waits it out, or ends at a stop
                log.info("throttled (429): every request waits %.1f s", wait, extra={"event": "throttled"})
                continue
            failures += 1
            if failures >= self._settings.max_attempts:
                return GaveUp(
                    f"giving up on a batch after {failures} failed attempts (last: {outcome.reason}) to "
                    f"{self._url}; its rows stay pending. Check that the API is reachable at this address "
                    "(PEAK_BASE_URL), then re-run: the next run sends only what was not acknowledged"
                )
            wait = self._backoff(failures, outcome)
            over = self._over_budget(started, outcome, wait)
            if over is not None:
                return over
            self._stats.add_retry()
            log.info("attempt %d failed (%s); retrying in %.2f s", failures, outcome.reason, wait,
                     extra={"event": "retry"})
            if self._stop.wait(wait):
                return Stopped()

    def attempt(self, body: bytes, n_rows: int) -> tuple[Outcome, int | None]:
        """One POST and its outcome, with the HTTP status (None when no usable answer came back)."""
        began = time.monotonic()
        try:
            exchange = transport.exchange(self._http, "POST", transport.core_url(self._endpoint), body,
                                          self._headers, self._settings.timeout_seconds)
        except BodyError as exc:
            self._stats.count(str(exc.status) if not isinstance(exc, transport.UndecodableBody) else "DecodingError")
            return classify_failure(exc, self._settings, self._mask), exc.status
        except transport.TRANSPORT_ERRORS as exc:  # every transport fault is an outcome, mapped in one place
            self._stats.count(type(exc).__name__)
            return classify_failure(exc, self._settings, self._mask), None
        self._stats.count(str(exchange.status))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("POST %s -> %d (%d bytes, %.0f ms)", self._url, exchange.status, len(body),
                      (time.monotonic() - began) * 1000)
        outcome = classify(exchange.status, exchange.headers, exchange.body, n_rows, self._settings, self._mask,
                           self._request_ids)
        return outcome, exchange.status

    def _backoff(self, failures: int, outcome: Unconfirmed) -> float:
        ceiling = min(BACKOFF_CAP_SECONDS, self._backoff_base * 2 ** (failures - 1))
        with self._rng_lock:
            wait = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if outcome.retry_after is not None:
            wait = max(wait, outcome.retry_after)
        return wait

    def _over_budget(self, started: float, outcome: Unconfirmed, upcoming_wait: float) -> GaveUp | None:
        """A wait that would end past the batch's retry budget is not started: give up now."""
        budget = self._settings.retry_budget_seconds
        if time.monotonic() - started + upcoming_wait <= budget:
            return None
        asked = ""
        if outcome.retry_after is not None:
            asked = f"; the API asked to wait {outcome.retry_after:.0f} s (Retry-After)"
        return GaveUp(
            f"retry budget of {budget:g} s spent on a batch (last: {outcome.reason}{asked}) sending to "
            f"{self._url}; its rows stay pending and the next run sends them"
        )

    def _mask(self, text: str) -> str:
        return mask_secret(text, self._token)


# -- the requests of `mo-export check` ----------------------------------------------------------------------------
#: A check waits out at most this much of a 429's Retry-After, once, before reporting the destination busy.
PROBE_RETRY_AFTER_CAP_SECONDS = 5.0


@dataclass(frozen=True)
class DryRunAnswer:
    """The check's one-row ``"dryRun": true`` POST, judged by :func:`~exporter.classify.classify` exactly as
    a run judges a batch. ``status`` is None when no HTTP answer came back (the outcome then says why; an
    answer lacking fields of the success object is Unconfirmed, its reason naming them)."""

    url: str
    status: int | None
    outcome: Outcome
    elapsed_ms: float


@dataclass(frozen=True)
class SchemaAnswer:
    """One GET of the schema endpoint: its status and JSON body (token masked), or why there was none.

    ``error`` is set when no usable answer came back (no connection, a body over the cap or undecodable);
    ``fatal`` when the answer is one a run would stop on: a redirect (never followed, the message names the
    ``Location``) or a transport fault that only a setting can fix (an untrusted TLS certificate).
    """

    url: str
    status: int | None
    body: Any = None
    elapsed_ms: float = 0.0
    error: str | None = None
    fatal: ExportError | None = None
    retry_after: float | None = None


class DestinationProbe:
    """The requests of `mo-export check`, over the run's own transport (TLS and CA bundle, whole-request
    deadline, body cap, masking, no redirects) and the run's own classification: one attempt each, a 429
    waited out once and briefly, since a check reports rather than insists."""

    def __init__(self, settings: ExportSettings) -> None:
        self._settings = settings
        self._stop = threading.Event()
        self._http = build_http_client(settings)
        self._client = IngestionClient(self._http, settings, RateLimiter(settings.max_rps, self._stop), HttpStats(),
                                       RequestIds(), stop=self._stop)
        self._token = settings.api_key.reveal() if settings.api_key is not None else ""
        self._get_headers = {"Authorization": self._token, "Accept": "application/json", "User-Agent": USER_AGENT}
        self._last_body = b""

    def __enter__(self) -> DestinationProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def dry_run(self, body: bytes, n_rows: int = 1) -> DryRunAnswer:
        """POST ``body`` (a ``"dryRun": true`` request of ``n_rows`` rows) to the endpoint."""
        began = time.monotonic()
        outcome, status = self._client.attempt(body, n_rows)
        if isinstance(outcome, Unconfirmed) and outcome.throttled and self._wait_out(outcome.retry_after):
            began = time.monotonic()
            outcome, status = self._client.attempt(body, n_rows)
        return DryRunAnswer(redacted_url(self._settings.endpoint), status, outcome,
                            (time.monotonic() - began) * 1000)

    def read_schema(self, paths: Iterable[str]) -> list[SchemaAnswer]:
        """GET each of ``paths`` under the base URL, stopping at the first that does not answer 200."""
        answers: list[SchemaAnswer] = []
        for path in paths:
            answer = self._get(self._settings.base_url.rstrip("/") + path)
            if answer.status == 429 and self._wait_out(answer.retry_after):
                answer = self._get(self._settings.base_url.rstrip("/") + path)
            answers.append(answer)
            if answer.status != 200 or answer.error is not None:
                break
        return answers

    def _wait_out(self, retry_after: float | None) -> bool:
        """Wait before the one repeat of a throttled request; False (no wait) when the API asks for longer
        than a check waits, so the check reports the destination busy at once."""
        wait = retry_after or 1.0
        if wait > PROBE_RETRY_AFTER_CAP_SECONDS:
            return False
        return not self._stop.wait(wait)

    def _get(self, url: str) -> SchemaAnswer:
        shown = redacted_url(url)
        began = time.monotonic()

        def mask(text: str) -> str:
            return mask_secret(text, self._token)

        def failed(error: str, status: int | None = None, fatal: ExportError | None = None) -> SchemaAnswer:
            return SchemaAnswer(shown, status, error=error, fatal=fatal, elapsed_ms=(time.monotonic() - began) * 1000)

        try:
            exchange = transport.exchange(self._http, "GET", transport.core_url(url), None, self._get_headers,
                                          self._settings.timeout_seconds)
        except (BodyError, *transport.TRANSPORT_ERRORS) as exc:  # mapped in one place, as a run maps it
            outcome = classify_failure(exc, self._settings, mask)
            status = exc.status if isinstance(exc, BodyError) else None
            if isinstance(outcome, Fatal):
                return failed(str(outcome.error), status, outcome.error)
            reason = str(exc) if isinstance(exc, BodyError) else outcome.reason
            return failed(mask(reason), status)
        elapsed_ms = (time.monotonic() - began) * 1000
        if 300 <= exchange.status < 400:
            error = redirect_error(exchange.status, exchange.headers, mask)
            return SchemaAnswer(shown, exchange.status, elapsed_ms=elapsed_ms, error=str(error), fatal=error)
        text = mask(exchange.body.decode("utf-8", "replace"))
        try:
            body: Any = orjson.loads(text) if text.strip() else None
        except orjson.JSONDecodeError:
            body = text[:200]
        return SchemaAnswer(shown, exchange.status, body=body, elapsed_ms=elapsed_ms,
                            retry_after=retry_after(exchange.headers))

