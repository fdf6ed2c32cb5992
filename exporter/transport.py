"""One HTTP exchange under one deadline, its body read and decoded within a cap: no judgement of what it means.

* :func:`build_pool` - httpcore's connection pool, built through its public constructor with a network
  backend (:class:`DeadlineBackend`) whose every socket operation respects the deadline of the request the
  calling thread is making. httpx's and httpcore's own timeouts bound each phase and each gap between
  bytes, never the request as a whole; a server trickling one byte a second would otherwise hold a sender
  for hours.
* :func:`exchange` - one request: connect, send, wait for the headers and read the body, all before
  ``timeout`` seconds have passed since it began, else :class:`httpcore.TimeoutException`. A run's stop
  event does not cut a request short: a request on the wire is finished (its answer may be an
  acknowledgement the ledger must record) and the deadline bounds how long that takes.
* The body is decoded here, not by httpx: every ``Content-Encoding`` of the stack (``gzip``, ``deflate``,
  ``identity``; others are :class:`UnsupportedEncoding`) is undone incrementally with
  :func:`zlib.decompressobj` and ``max_length``, so no stage ever produces more than
  :data:`MAX_RESPONSE_BYTES` (:class:`BodyTooLarge`): a few KB of ``gzip, gzip`` cannot expand to GBs.

Which exceptions mean what is decided in one place, :func:`exporter.classify.classify_failure`.
"""

from __future__ import annotations

import math
import ssl
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

#: a response body (on the wire and after each decoding stage) is read up to this many bytes
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
#: the encodings the exporter can decode within the cap, and asks for
ACCEPT_ENCODING = "gzip, deflate"
#: what a request that got no answer can raise (httpcore's faults, a URL httpx refuses, the socket's own)
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
    httpcore.ProxyError, httpx.InvalidURL, OSError,
)


class BodyError(Exception):
    """The answer's headers came back, but its body cannot be used (``status`` says what it answered)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BodyTooLarge(BodyError):
    """The body (as sent or once decoded) is over :data:`MAX_RESPONSE_BYTES`."""


class UndecodableBody(BodyError):
    """The body does not decode as its ``Content-Encoding`` says (not gzip, truncated, ...)."""


class UnsupportedEncoding(BodyError):
    """A ``Content-Encoding`` the exporter cannot decode within the cap (br, zstd, compress, ...)."""


@dataclass(frozen=True)
class Exchange:
    """What came back for one request: the status, the headers and the decoded body (within the cap)."""

    status: int
    headers: httpx.Headers
    body: bytes


# -- a deadline for the whole request -----------------------------------------------------------------------------
class _RequestDeadline(threading.local):
    """The deadline of the request this thread is making (a sync pool makes one at a time per thread)."""

    at: float = math.inf
    timeout: float = math.inf


_DEADLINE = _RequestDeadline()


def _remaining(timeout: float | None, error: type[Exception]) -> float:
    """Seconds left for a socket call: httpcore's per-phase timeout or the request's deadline, if sooner."""
    now = time.monotonic()
    if now >= _DEADLINE.at:
        raise error(f"the request did not complete within --timeout ({_DEADLINE.timeout:g} s)")
    left = _DEADLINE.at - now
    if timeout is not None:
        left = min(left, timeout)
    return left


def _socket_timeout(left: float) -> float | None:
    return None if math.isinf(left) else left


class DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose reads and writes end at the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # one blocking read bounded by what is left of the request: a silent server times out at the
        # deadline, a trickling one is checked at every chunk it sends; no polling in short slices
        try:
            return self._inner.read(max_bytes, _socket_timeout(_remaining(timeout, httpcore.ReadTimeout)))
        except httpcore.ReadTimeout:
            _remaining(None, httpcore.ReadTimeout)  # at the request's deadline: say so, naming --timeout
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _socket_timeout(_remaining(timeout, httpcore.WriteTimeout)))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        left = _remaining(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _socket_timeout(left)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync socket backend with every stream bounded by the request's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _remaining(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.connect_tcp(host, port, _socket_timeout(left), local_address,
                                                      socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        left = _remaining(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.connect_unix_socket(path, _socket_timeout(left), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def build_pool(concurrency: int, ca_bundle: str | None = None) -> httpcore.ConnectionPool:
    """A pool of ``concurrency`` keep-alive connections, TLS verified against the system's CAs or
    ``ca_bundle``, every socket call under the request's deadline. No redirects are followed (httpcore
    never does), no cookies, no proxies from the environment."""
    context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    return httpcore.ConnectionPool(
        ssl_context=context,
        max_connections=concurrency,
        max_keepalive_connections=concurrency,
        network_backend=DeadlineBackend(),
    )


def core_url(url: str | httpx.URL) -> httpcore.URL:
    """``url`` as httpcore wants it (parsed and validated by httpx: raises httpx.InvalidURL)."""
    parsed = httpx.URL(url)
    return httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path)


def _host_header(url: httpcore.URL) -> str:
    host = url.host.decode("ascii")
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    default = {b"http": 80, b"https": 443}.get(url.scheme)
    return host if url.port in (None, default) else f"{host}:{url.port}"


def exchange(
    pool: httpcore.ConnectionPool, method: str, url: httpcore.URL, body: bytes | None,
    headers: dict[str, str], timeout: float,
) -> Exchange:
    """One request under one deadline (connect + send + headers + body), the body decoded within the cap.

    Raises httpcore's exceptions (no answer) or :class:`BodyError` (an answer whose body is unusable)."""
    began = time.monotonic()
    _DEADLINE.at, _DEADLINE.timeout = began + timeout, timeout
    try:
        phase = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        sent = {"Host": _host_header(url), **headers, "Accept-Encoding": ACCEPT_ENCODING}
        if body is not None:
            sent["Content-Length"] = str(len(body))
        request = httpcore.Request(method, url, headers=list(sent.items()), content=body,
                                   extensions={"timeout": phase})
        response = pool.handle_request(request)
        try:
            response_headers = httpx.Headers(response.headers)
            content = read_body(response.status, response_headers, response.iter_stream())
        finally:
            response.close()
    finally:
        _DEADLINE.at, _DEADLINE.timeout = math.inf, math.inf
    return Exchange(response.status, response_headers, content)


# -- reading and decoding the body ---------------------------------------------------------------------------------
def read_body(status: int, headers: httpx.Headers, chunks: Iterable[bytes], limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """The body of ``chunks`` (as they come off the wire) with every ``Content-Encoding`` undone, no stage
    producing more than ``limit`` bytes; raises :class:`BodyError` subclasses."""
    declared = headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(status, f"HTTP {status} with a body over {limit // (1024 * 1024)} MB")
    decoders = _decoders(status, headers.get_list("Content-Encoding", split_commas=True))
    out: list[bytes] = []
    size = 0
    wire = 0
    for chunk in chunks:
        wire += len(chunk)
        if wire > limit:
            raise BodyTooLarge(status, f"HTTP {status} with a body over {limit // (1024 * 1024)} MB")
        for decoder in decoders:
            chunk = decoder.feed(chunk)
        size += len(chunk)
        if size > limit:  # identity only: the decoders bound themselves
            raise BodyTooLarge(status, f"HTTP {status} with a body over {limit // (1024 * 1024)} MB")
        if chunk:
            out.append(chunk)
    for decoder in decoders:
        decoder.finish()
    return b"".join(out)


def _decoders(status: int, codings: list[str]) -> list[_Inflater]:
    """The decoders to apply, in order (the last encoding applied is undone first)."""
    decoders: list[_Inflater] = []
    for coding in reversed([c.strip().lower() for c in codings if c.strip()]):
        if coding == "identity":
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise UnsupportedEncoding(
                status, f"HTTP {status} with Content-Encoding {coding!r}, an unsupported encoding (the exporter "
                f"asks for {ACCEPT_ENCODING} only)")
        decoders.append(_Inflater(status, coding))
    return decoders


class _Inflater:
    """One gzip or deflate stage, its total output bounded by the cap as it decodes."""

    def __init__(self, status: int, coding: str, limit: int = MAX_RESPONSE_BYTES) -> None:
        self._status = status
        self._coding = coding
        self._limit = limit
        self._produced = 0
        self._raw_fallback = coding == "deflate"  # deflate is zlib-wrapped or, from some servers, raw
        wbits = zlib.MAX_WBITS | 16 if coding != "deflate" else zlib.MAX_WBITS
        self._decoder = zlib.decompressobj(wbits)
        self._started = False
        self._padding = False  # after the last gzip member: only zero bytes may follow
        self._held = b""  # the first byte of a next member's magic, when a chunk ends between its two bytes

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        if self._padding:
            if data.strip(b"\x00"):
                raise self._undecodable("bytes other than zero padding follow the end of the compressed stream")
            return b""
        if self._started and self._decoder.eof:  # a stream ended with the last chunk: what follows it
            return self._after_end(data)
        budget = self._limit - self._produced
        try:
            out = self._decoder.decompress(data, budget + 1)
        except zlib.error as exc:
            if self._raw_fallback and not self._started:
                self._raw_fallback = False
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data)
            raise self._undecodable(str(exc)) from None
        self._started = True
        self._raw_fallback = False
        if len(out) > budget:  # max_length reached: more would come; the cap is passed
            raise BodyTooLarge(
                self._status, f"HTTP {self._status} with a body over {self._limit // (1024 * 1024)} MB once "
                f"decoded ({self._coding})")
        self._produced += len(out)
        if self._decoder.eof and self._decoder.unused_data:
            return out + self._after_end(self._decoder.unused_data)
        return out

    def _after_end(self, rest: bytes) -> bytes:
        """Bytes after a complete stream: a further gzip member is decoded (RFC 1952 allows several), zero
        padding is ignored as gzip readers do; anything else means the body is not what its header says, and
        a body read only in part must not pass for the API's answer."""
        rest, self._held = self._held + rest, b""
        if self._coding != "deflate" and rest == b"\x1f":
            self._held = rest
            return b""
        if self._coding != "deflate" and rest[:2] == b"\x1f\x8b":
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
            return self.feed(rest)
        if self._coding != "deflate" and not rest.strip(b"\x00"):
            self._padding = True
            return b""
        raise self._undecodable(f"{len(rest)} bytes follow the end of the compressed stream")

    def finish(self) -> None:
        if (self._started and not self._decoder.eof) or self._held:
            raise self._undecodable("the compressed stream ends before its end marker")

    def _undecodable(self, why: str) -> UndecodableBody:
        return UndecodableBody(
            self._status, f"HTTP {self._status} with a response body that cannot be decoded as {self._coding} ({why})")
