"""The one place that talks HTTP: POST a batch to the ingestion API and classify what came back.

Every exchange ends as one typed outcome (:func:`classify`), and only one of them moves the ledger:

* :class:`Acknowledged` - a 2xx whose body is the API's success object and agrees with the request:
  a JSON object; ``failed`` absent, null or a list of objects, each with an integer ``index`` (not a bool,
  float or string) inside the batch and no index twice; ``accepted``, when present, an integer equal to the
  rows sent minus the failed ones. The failed rows become row rejections, every other row is acknowledged.
* :class:`Unconfirmed` - anything that does not prove delivery: 5xx, 429 (throttled), 408/425, a timeout, a
  dropped connection, a bad ``Content-Encoding``, a body over :data:`MAX_RESPONSE_BYTES`, and any 2xx that
  is not the success object (HTML from a proxy, invalid JSON, an empty body, a 202/204 without a body,
  counts that do not add up, a malformed ``failed``). Retried here with exponential backoff and jitter; a
  429 pauses every request of the run (the rate limit is the tenant's) and does not count as a failed
  attempt. When ``max_attempts`` failures or the retry budget run out:
  :class:`~exporter.errors.DeliveryError` (exit 2) saying what came back; the rows stay pending.
* :class:`Refused` - 400 or 413 for the whole request: :class:`BatchRefused` is raised and the runner
  splits the batch to find the rows responsible.
* :class:`Fatal` - 401, 403, 404, any redirect and every other 4xx: a
  :class:`~exporter.errors.ConfigError` (exit 3) at once. A redirect is never followed (the token would go
  along to wherever it points) and is not a verdict on the rows: the message names the ``Location`` so the
  user corrects ``PEAK_BASE_URL``. The other 4xx (405, 409, 410, 415, 422, ...) answer the request as a
  whole, not its rows: the API reports bad rows in a 200's ``failed`` and a bad envelope or size as
  400/413, so bisecting would only record every row as rejected. They stop the run with the rows pending.

Waiting is bounded by the batch's retry budget: ``Retry-After`` is honoured in seconds or as an HTTP date
(missing, negative, non-finite or unparsable values fall back to the backoff), and a wait that would pass
the budget is not started - the batch gives up at once, saying how long the API asked to wait.

``--timeout`` bounds the whole request (connect, send, wait for headers, read the body) through a deadline
that every socket operation of the request checks (:class:`_DeadlineBackend`), so a server that trickles
one byte a second, before or after its headers, is abandoned at the deadline and the request retried.
The socket waits are cut into short slices that also watch the run's stop event, so SIGTERM/SIGINT end a
run within about ``--timeout`` whatever the server does.

The token is masked in every text taken from a response (raw, JSON-escaped, URL-encoded, and in decoded
JSON strings) before it is stored, logged or reported (:func:`mask_secret`).

`mo-export check` talks to the destination here too (:class:`DestinationProbe`): its one-row ``"dryRun"``
POST is one attempt of :class:`IngestionClient` over the same transport, so it is classified exactly as a
run's batch; its schema GETs share the deadline, the body cap, the masking and the redirect rule.

Why not a retry library: the policy needs the response (Retry-After, a shared pause on 429, throttles that
do not count as attempts), which is a dozen lines here and contorted configuration in one.

Why threads and httpx's sync client rather than asyncio: the sender threads spend their time in socket
calls that release the GIL, and the sync client costs half the CPU per request of the async one (1.4 ms
against 2.7 ms for a 500-row body here), which is most of the exporter's CPU. Every wait (rate limit,
backoff, Retry-After) is on the run's stop event, so SIGTERM interrupts it at once.
"""

from __future__ import annotations

import datetime
import email.utils
import logging
import math
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx
import orjson

from exporter.errors import AuthError, ConfigError, DeliveryError, ExportError
from exporter.masking import mask_secret
from exporter.outcomes import RowRejection
from exporter.settings import ExportSettings, redacted_url

log = logging.getLogger(__name__)

USER_AGENT = "mo-export/0.1"
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
#: a response body is read up to this many bytes; a longer one is not an acknowledgement
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
#: how much of a body an error message quotes
QUOTED_BODY_CHARS = 120
#: socket waits are cut into slices this long, so a stop or the request's deadline is seen promptly
SOCKET_SLICE_SECONDS = 0.25


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


# -- the outcomes of one exchange ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Acknowledged:
    """The API confirmed the batch: every row but the rejected ones is acknowledged."""

    request_id: str | None
    rejections: list[RowRejection]


#: the name the runner knows an acknowledged batch by
Delivered = Acknowledged


@dataclass(frozen=True)
class Unconfirmed:
    """Nothing proves delivery; retry. ``reason`` says what came back (token masked)."""

    reason: str
    retry_after: float | None = None
    throttled: bool = False


@dataclass(frozen=True)
class Refused:
    """400/413: the whole request was refused; the runner bisects it.

    ``from_api``: the body is the API's error object (a JSON object). Only then is a refusal of a single row
    a verdict on that row; a proxy's own page (HTML, say) is bisected all the same, since a smaller body may
    pass it (a 413 from a proxy's size limit), but never recorded as a row's rejection.
    """

    status: int
    detail: str
    from_api: bool = True
    came_back: str = ""


@dataclass(frozen=True)
class Fatal:
    """Stop the run: retrying or bisecting cannot help."""

    error: ExportError


Outcome = Acknowledged | Unconfirmed | Refused | Fatal


class BatchRefused(Exception):
    """The API refused the request as a whole (400, 413): split it to find the bad rows."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(f"HTTP {refused.status}: {refused.detail}")
        self.status = refused.status
        self.detail = refused.detail
        self.from_api = refused.from_api
        self.came_back = refused.came_back

    def not_a_row_verdict(self) -> ConfigError:
        """The error that stops the run when a single row is refused by something other than the API."""
        return ConfigError(
            f"a request of a single row was answered {self.came_back}, which is not the ingestion API's error "
            "object: a proxy or another host stands in front of the API, so this says nothing about the row. "
            "Nothing was recorded as rejected and every row not acknowledged stays pending. Check PEAK_BASE_URL "
            "(--base-url) and the proxy between, then re-run"
        )


class Stopped(DeliveryError):
    """The run was asked to stop (SIGTERM/SIGINT) while this batch was waiting; its rows stay pending."""


class RateLimiter:
    """Spaces requests evenly at ``rps`` for all sender threads of a run, and pauses them all after a 429."""

    def __init__(self, rps: float, stop: threading.Event | None = None) -> None:
        self._interval = 1.0 / rps
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self._stop = stop or threading.Event()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                slot = max(self._next_slot, now, self._paused_until)
                self._next_slot = slot + self._interval
            if slot > now:
                sleep(self._stop, slot - now)
            if time.monotonic() >= self._paused_until:
                return

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


def sleep(stop: threading.Event, seconds: float) -> None:
    """Wait ``seconds``, or raise :class:`Stopped` as soon as the run is asked to stop."""
    if stop.wait(seconds):
        raise Stopped("stopped by a signal while waiting to send a batch; its rows stay pending")


# -- a deadline for the whole request -----------------------------------------------------------------------------
class _RequestDeadline(threading.local):
    """The deadline and stop event of the request this sender thread is making (one at a time per thread)."""

    at: float = math.inf
    timeout: float = math.inf
    stop: threading.Event | None = None


_DEADLINE = _RequestDeadline()


def _phase_end(timeout: float | None) -> float:
    """When a socket call must give up: httpx's per-phase timeout or the request's deadline, if sooner."""
    return min(_DEADLINE.at, time.monotonic() + timeout if timeout is not None else math.inf)


def _check_deadline(error: type[Exception]) -> None:
    if _DEADLINE.stop is not None and _DEADLINE.stop.is_set():
        raise httpcore.ReadError("stopped by a signal during the request")
    if time.monotonic() >= _DEADLINE.at:
        raise error(f"the request did not complete within --timeout ({_DEADLINE.timeout:g} s)")


def _remaining(ends: float, error: type[Exception]) -> float:
    """Seconds left before ``ends`` (raising ``error`` if none, or on a stop); ``inf`` without any bound."""
    _check_deadline(error)
    left = ends - time.monotonic()
    if left <= 0:
        raise error("timed out")
    return left


def _socket_timeout(left: float) -> float | None:
    return None if math.isinf(left) else left


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose reads and writes end at the request's deadline or when the run stops."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        ends = _phase_end(timeout)
        while True:  # short slices: a trickle or a silent server is seen at the deadline, a stop at once
            left = _remaining(ends, httpcore.ReadTimeout)
            try:
                return self._inner.read(max_bytes, min(SOCKET_SLICE_SECONDS, left))
            except httpcore.ReadTimeout:
                continue

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _socket_timeout(_remaining(_phase_end(timeout), httpcore.WriteTimeout)))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        left = _remaining(_phase_end(timeout), httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _socket_timeout(left)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend with every stream bounded by the request's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _remaining(_phase_end(timeout), httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, _socket_timeout(left), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def build_http_client(settings: ExportSettings) -> httpx.HTTPTransport:
    """httpx's connection pool, used directly: one POST per batch needs none of the ``httpx.Client`` layer
    (cookies, auth flows, redirects, event hooks), which cost a fifth of the CPU of each request here.

    Its socket backend is wrapped so that every socket call of a request respects the request's deadline:
    httpx's own timeouts bound each phase and each gap between bytes, never the request as a whole.
    """
    limits = httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency)
    transport = httpx.HTTPTransport(verify=_tls_verification(settings), limits=limits)
    pool = transport._pool
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport


def _tls_verification(settings: ExportSettings) -> ssl.SSLContext | bool:
    """httpx's ``verify``: the system's CAs, or the ``--ca-bundle`` the settings name."""
    if settings.ca_bundle is None:
        return True
    return ssl.create_default_context(cafile=str(settings.ca_bundle))


# -- the client ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Exchange:
    """What came back for one request, body read up to the cap."""

    status: int
    headers: httpx.Headers
    body: bytes


class IngestionClient:
    def __init__(
        self,
        http: httpx.BaseTransport,
        settings: ExportSettings,
        limiter: RateLimiter,
        stats: HttpStats,
        *,
        rng: random.Random | None = None,
        backoff_base_seconds: float = BACKOFF_BASE_SECONDS,
        stop: threading.Event | None = None,
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
            "User-Agent": USER_AGENT,
        }
        self._endpoint = httpx.URL(settings.endpoint)
        self._limiter = limiter
        self._stats = stats
        self._rng = rng or random.Random()
        self._backoff_base = backoff_base_seconds
        self._stop = stop or threading.Event()
        self._rng_lock = threading.Lock()

    def send(self, body: bytes, n_rows: int) -> Acknowledged:
        """POST one batch until it is acknowledged, refused or fatal; see the module docstring."""
        failures = 0
        throttles = 0
        started = time.monotonic()
        while True:
            self._limiter.acquire()
            self._stats.add_request()
            outcome, _ = self._attempt(body, n_rows)
            if isinstance(outcome, Acknowledged):
                return outcome
            if isinstance(outcome, Refused):
                raise BatchRefused(outcome)
            if isinstance(outcome, Fatal):
                raise outcome.error
            if outcome.throttled:
                throttles += 1
                wait = outcome.retry_after
                if not wait:  # none, or "0": back off rather than hammer the limit
                    wait = min(BACKOFF_CAP_SECONDS, self._backoff_base * 2**throttles)
                self._check_budget(started, outcome, wait)
                self._stats.add_throttle(wait)
                self._limiter.pause(wait)
                log.info("throttled (429): every request waits %.1f s", wait, extra={"event": "throttled"})
                continue
            failures += 1
            self._back_off(failures, started, outcome)

    def _attempt(self, body: bytes, n_rows: int) -> tuple[Outcome, int | None]:
        """One POST and its outcome, with the HTTP status (None when no answer came back)."""
        try:
            exchange = self._post(body)
        except httpx.TransportError as exc:
            if self._stop.is_set():
                raise Stopped("stopped by a signal during a request; the batch's rows stay pending") from None
            permanent = self._permanent(exc)
            if permanent is not None:
                return Fatal(permanent), None
            self._stats.count(type(exc).__name__)
            detail = self._mask(str(exc))
            return Unconfirmed(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__), None
        except httpx.DecodingError as exc:
            self._stats.count("DecodingError")
            return Unconfirmed(f"a response body that cannot be decoded ({self._mask(str(exc))[:200]})"), None
        except _TooLarge as exc:
            self._stats.count(str(exc.status))
            return Unconfirmed(
                f"HTTP {exc.status} with a body over {MAX_RESPONSE_BYTES // (1024 * 1024)} MB, not the API's "
                "acknowledgement"
            ), exc.status
        self._stats.count(str(exchange.status))
        outcome = classify(exchange.status, exchange.headers, exchange.body, n_rows, self._settings, self._mask)
        return outcome, exchange.status

    def _post(self, body: bytes) -> _Exchange:
        """One request under one deadline (connect + send + wait + read); the body is read up to the cap."""
        began = time.monotonic()
        exchange = _exchange(self._http, "POST", self._endpoint, body, self._headers,
                             self._settings.timeout_seconds, self._stop)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "POST %s -> %d (%d bytes, %.0f ms)", self._url, exchange.status, len(body),
                (time.monotonic() - began) * 1000,
            )
        return exchange

    def _back_off(self, failures: int, started: float, outcome: Unconfirmed) -> None:
        if failures >= self._settings.max_attempts:
            raise DeliveryError(
                f"giving up on a batch after {failures} failed attempts (last: {outcome.reason}) to {self._url}; "
                "its rows stay pending. Check that the API is reachable at this address (PEAK_BASE_URL), "
                "then re-run: the next run sends only what was not acknowledged"
            )
        ceiling = min(BACKOFF_CAP_SECONDS, self._backoff_base * 2 ** (failures - 1))
        with self._rng_lock:
            wait = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if outcome.retry_after is not None:
            wait = max(wait, outcome.retry_after)
        self._check_budget(started, outcome, wait)
        self._stats.add_retry()
        log.info(
            "attempt %d failed (%s); retrying in %.2f s", failures, outcome.reason, wait, extra={"event": "retry"}
        )
        sleep(self._stop, wait)

    def _check_budget(self, started: float, outcome: Unconfirmed, upcoming_wait: float) -> None:
        """A wait that would end past the batch's retry budget is not started: give up now."""
        budget = self._settings.retry_budget_seconds
        if time.monotonic() - started + upcoming_wait <= budget:
            return
        asked = ""
        if outcome.retry_after is not None:
            asked = f"; the API asked to wait {outcome.retry_after:.0f} s (Retry-After)"
        raise DeliveryError(
            f"retry budget of {budget:g} s spent on a batch (last: {outcome.reason}{asked}) sending to "
            f"{self._url}; its rows stay pending and the next run sends them"
        )

    def _mask(self, text: str) -> str:
        return mask_secret(text, self._token)

    def _permanent(self, exc: httpx.TransportError) -> ConfigError | None:
        """The configuration error a transport fault reveals (untrusted certificate, failed TLS handshake,
        unusable URL), or None for a transient one (refused, reset, timed out)."""
        text = self._mask(str(exc))
        host = self._endpoint.host
        if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in text:
            return ConfigError(
                f"the TLS certificate of {host} is not trusted ({_ssl_reason(text)}): "
                "point --ca-bundle (MO_CA_BUNDLE) at the CA that signed it, or fix the base URL"
            )
        if isinstance(exc, httpx.ConnectError) and ("SSL" in text or "TLS" in text):
            return ConfigError(f"TLS handshake with {host} failed: {_ssl_reason(text)}")
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return ConfigError(f"cannot send to {self._url}: {text}")
        return None


class _TooLarge(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _exchange(
    http: httpx.BaseTransport, method: str, url: httpx.URL, body: bytes | None, headers: dict[str, str],
    timeout: float, stop: threading.Event,
) -> _Exchange:
    """One request under one deadline (connect + send + wait + read), the body read up to the cap."""
    began = time.monotonic()
    _DEADLINE.at, _DEADLINE.timeout, _DEADLINE.stop = began + timeout, timeout, stop
    try:
        request = httpx.Request(
            method, url, content=body, headers=headers, extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )
        response = http.handle_request(request)
        try:
            content = _read_capped(response, began + timeout, timeout, stop)
        finally:
            response.close()
    finally:
        _DEADLINE.at, _DEADLINE.timeout, _DEADLINE.stop = math.inf, math.inf, None
    return _Exchange(response.status_code, response.headers, content)


def _read_capped(response: httpx.Response, deadline: float, timeout: float, stop: threading.Event) -> bytes:
    """Read (and decode) the body chunk by chunk, stopping past the cap, the deadline or a stop."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise _TooLarge(response.status_code)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _TooLarge(response.status_code)
        chunks.append(chunk)
        if stop.is_set():
            raise httpx.ReadError("stopped by a signal while reading the response")
        if time.monotonic() >= deadline:
            raise httpx.ReadTimeout(f"the response did not complete within --timeout ({timeout:g} s)")
    return b"".join(chunks)


# -- what an exchange means ---------------------------------------------------------------------------------------
def classify(
    status: int,
    headers: httpx.Headers,
    body: bytes,
    n_rows: int,
    settings: ExportSettings,
    mask: Callable[[str], str] = lambda text: text,
) -> Outcome:
    """Turn one HTTP exchange into its outcome (see the module docstring). Never raises on a body's shape."""
    if 200 <= status < 300:
        return _acknowledgement(status, headers, body, n_rows, mask)
    if status == 429:
        return Unconfirmed(_came_back(status, headers, body, mask), _retry_after(headers), throttled=True)
    if status >= 500 or status in (408, 425):
        return Unconfirmed(_came_back(status, headers, body, mask), _retry_after(headers))
    if 300 <= status < 400:
        return Fatal(_redirect_error(status, headers, mask))
    detail = _detail(body, mask)
    if status in (400, 413):
        return Refused(status, detail, _is_json_object(body), _came_back(status, headers, body, mask))
    object_name, solution = settings.object_name, settings.solution_name
    if status == 401:
        return Fatal(AuthError(
            f"the ingestion API answered 401 ({detail}): check that PEAK_API_KEY holds a valid "
            "personal access token for this tenant, sent bare (no 'Bearer ' prefix), with access to "
            f"solution {solution!r}"
        ))
    if status == 403:
        return Fatal(AuthError(
            f"the ingestion API answered 403 ({detail}): the token in PEAK_API_KEY was recognised but may "
            f"not write to {object_name!r} in solution {solution!r}. "
            "Use a personal access token with write access to that solution (sent bare, no 'Bearer ' "
            "prefix), or check the solution name (PEAK_SOLUTION_NAME)"
        ))
    endpoint = redacted_url(settings.endpoint)
    if status == 404:
        return Fatal(AuthError(
            f"the ingestion API answered 404 for {endpoint} ({detail}): check the object name "
            f"({object_name!r}), the base URL (PEAK_BASE_URL) and the path template"
        ))
    return Fatal(ConfigError(
        f"the ingestion API answered {status} for {endpoint} ({detail}): a refusal of the request as a "
        "whole, not of its rows, so nothing is recorded as rejected and every row stays pending. Check the "
        "base URL (PEAK_BASE_URL), the path template (PEAK_PATH_TEMPLATE) and the object name"
    ))


def _redirect_error(status: int, headers: httpx.Headers, mask: Callable[[str], str]) -> ConfigError:
    location = mask(redacted_url(headers.get("Location", "")))[:300] or "nowhere (no Location header)"
    return ConfigError(
        f"the ingestion API answered {status}, a redirect to {location}: the exporter never follows a "
        "redirect (the token would go along) and sent nothing more. Set PEAK_BASE_URL (--base-url) to "
        "the address the API answers at; every row stays pending"
    )


def _acknowledgement(
    status: int, headers: httpx.Headers, body: bytes, n_rows: int, mask: Callable[[str], str]
) -> Outcome:
    def unconfirmed(why: str) -> Unconfirmed:
        return Unconfirmed(f"{_came_back(status, headers, body, mask)}: {why}, not the API's acknowledgement")

    if not body.strip():
        return unconfirmed("an empty body")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return unconfirmed("a body that is not JSON")
    if not isinstance(payload, dict):
        return unconfirmed(f"a JSON {_json_kind(payload)}, not an object")
    failed = payload.get("failed")
    if failed is None:
        failed = []
    if not isinstance(failed, list):
        return unconfirmed(f"'failed' is a JSON {_json_kind(failed)}, not an array")
    seen: set[int] = set()
    rejections: list[RowRejection] = []
    for position, entry in enumerate(failed):
        index = entry.get("index") if isinstance(entry, dict) else None
        if type(index) is not int or not 0 <= index < n_rows:
            return unconfirmed(f"'failed'[{position}] has no integer index within the {n_rows} rows sent")
        if index in seen:
            return unconfirmed(f"'failed' names row {index} twice")
        seen.add(index)
        rejections.extend(_row_rejections(index, entry.get("errors"), status, mask))
    accepted = payload.get("accepted")
    if accepted is not None and (type(accepted) is not int or accepted != n_rows - len(seen)):
        return unconfirmed(f"'accepted' is {accepted!r} for {n_rows} rows sent and {len(seen)} failed")
    request_id = payload.get("requestId")
    return Acknowledged(request_id=mask(str(request_id)) if request_id is not None else None, rejections=rejections)


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(orjson.loads(body), dict)
    except orjson.JSONDecodeError:
        return False


def _json_kind(value: object) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return kinds.get(type(value), type(value).__name__)


def _row_rejections(index: int, errors: Any, status: int, mask: Callable[[str], str]) -> list[RowRejection]:
    """The row's errors as the API listed them; tolerant of missing or odd fields (the row is rejected anyway)."""
    listed = errors if isinstance(errors, list) and errors else [errors if errors is not None else {}]
    out = []
    for listed_error in listed:
        error: dict[str, Any] = listed_error if isinstance(listed_error, dict) else {"message": str(listed_error)}
        texts = {key: mask(str(error[key])) for key in ("code", "message", "category", "column")
                 if error.get(key) not in (None, "")}
        out.append(RowRejection(
            row_index=index,
            error_code=texts.get("code", "UNKNOWN"),
            message=texts.get("message", ""),
            category=texts.get("category"),
            column_name=texts.get("column"),
            http_status=status,
        ))
    return out


def _came_back(status: int, headers: httpx.Headers, body: bytes, mask: Callable[[str], str]) -> str:
    """What came back, for a message: status, content type, size and the first bytes (token masked)."""
    kind = headers.get("Content-Type") or "no content type"
    if not body:
        return f"HTTP {status} ({kind}, empty body)"
    first = mask(body[:4096].decode("utf-8", "replace"))[:QUOTED_BODY_CHARS]  # masked before it is cut
    more = "..." if len(body) > QUOTED_BODY_CHARS else ""
    return f"HTTP {status} ({kind}, {len(body)} bytes: {first!r}{more})"


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date); None if missing or unusable."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # RFC 5322 "-0000": UTC
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _detail(body: bytes, mask: Callable[[str], str]) -> str:
    """The API's ``detail`` or the body's first characters; masked before it is cut, so no piece of the
    token survives at the cut."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and "detail" in payload:
        return mask(str(payload["detail"]))[:500]
    return mask(body[:4096].decode("utf-8", "replace"))[:200] or "no body"


def _ssl_reason(text: str) -> str:
    return text.split("] ", 1)[-1].split(" (_ssl")[0][:200]


# -- the requests of `mo-export check` ----------------------------------------------------------------------------
#: A check waits out at most this much of a 429's Retry-After, once, before reporting the destination busy.
PROBE_RETRY_AFTER_CAP_SECONDS = 5.0


@dataclass(frozen=True)
class DryRunAnswer:
    """The check's one-row ``"dryRun": true`` POST, judged by :func:`classify` exactly as a run judges a
    batch. ``status`` is None when no HTTP answer came back (the outcome then says why)."""

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
    deadline, body cap, masking, no redirects): one attempt each, a 429 waited out once and briefly, since a
    check reports rather than insists."""

    def __init__(self, settings: ExportSettings) -> None:
        self._settings = settings
        self._http = build_http_client(settings)
        self._client = IngestionClient(self._http, settings, RateLimiter(settings.max_rps), HttpStats())
        self._token = settings.api_key.reveal() if settings.api_key is not None else ""
        self._get_headers = {"Authorization": self._token, "Accept": "application/json", "User-Agent": USER_AGENT}
        self._stop = threading.Event()

    def __enter__(self) -> DestinationProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def dry_run(self, body: bytes, n_rows: int = 1) -> DryRunAnswer:
        """POST ``body`` (a ``"dryRun": true`` request of ``n_rows`` rows) to the endpoint."""
        began = time.monotonic()
        outcome, status = self._client._attempt(body, n_rows)
        if isinstance(outcome, Unconfirmed) and outcome.throttled and self._wait_out(outcome.retry_after):
            began = time.monotonic()
            outcome, status = self._client._attempt(body, n_rows)
        return DryRunAnswer(redacted_url(self._settings.endpoint), status, outcome,
                            (time.monotonic() - began) * 1000)

    def read_schema(self, paths: Iterable[str]) -> list[SchemaAnswer]:
        """GET each of ``paths`` under the base URL, stopping at the first that does not answer 200."""
        answers: list[SchemaAnswer] = []
        for path in paths:
            answer = self._get(self._settings.base_url.rstrip("/") + path)
            if answer.status == 429 and self._wait_out(answer.retry_after):
                answer = self._get(answer.url)
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
        sleep(self._stop, wait)
        return True

    def _get(self, url: str) -> SchemaAnswer:
        shown = redacted_url(url)
        began = time.monotonic()

        def failed(error: str, status: int | None = None, fatal: ExportError | None = None) -> SchemaAnswer:
            return SchemaAnswer(shown, status, error=error, fatal=fatal, elapsed_ms=(time.monotonic() - began) * 1000)

        try:
            exchange = _exchange(self._http, "GET", httpx.URL(url), None, self._get_headers,
                                 self._settings.timeout_seconds, self._stop)
        except httpx.TransportError as exc:
            text = mask_secret(str(exc), self._token)
            return failed(f"{type(exc).__name__}: {text}" if text else type(exc).__name__,
                          fatal=self._client._permanent(exc))
        except httpx.DecodingError as exc:
            return failed(f"a response body that cannot be decoded ({mask_secret(str(exc), self._token)[:200]})")
        except _TooLarge as exc:
            return failed(f"HTTP {exc.status} with a body over {MAX_RESPONSE_BYTES // (1024 * 1024)} MB", exc.status)
        elapsed_ms = (time.monotonic() - began) * 1000
        if 300 <= exchange.status < 400:
            error = _redirect_error(exchange.status, exchange.headers, lambda text: mask_secret(text, self._token))
            return SchemaAnswer(shown, exchange.status, elapsed_ms=elapsed_ms, error=str(error), fatal=error)
        text = mask_secret(exchange.body.decode("utf-8", "replace"), self._token)
        try:
            body: Any = orjson.loads(text) if text.strip() else None
        except orjson.JSONDecodeError:
            body = text[:200]
        return SchemaAnswer(shown, exchange.status, body=body, elapsed_ms=elapsed_ms,
                            retry_after=_retry_after(exchange.headers))
