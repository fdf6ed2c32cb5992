"""A hostile HTTP server for the exporter's tests: every way an API, a proxy or a wrong host can answer badly.

Standard library only (``http.server`` in a daemon thread), bound to 127.0.0.1 on an ephemeral port, and
shut down by the context manager: every handler that waits or trickles checks the server's ``closing``
event, so nothing outlives the test. Each mode is a function ``(handler, rows) -> None`` that answers one
POST whose body held ``rows`` rows; :data:`MODES` names them. The server counts requests per path and
keeps the Authorization headers it saw, so a test can tell whether a redirect was followed.

Only the manufacturing orders' endpoint is hostile. A run sends Locations first (the orders' parents): a
POST to another object's ingest path is answered as the API answers it (every row accepted, a fresh
``requestId``) and counted in ``other_objects`` alone, so a test's counts and modes are about the orders.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: the path redirects point to; a test asserts nobody asked for it
REDIRECT_TARGET = "/moved-here/api/v2/ingest/object/INV_MANUFACTURING_ORDERS_OOTB"
#: the objects a run sends before the orders, answered as the API does
PARENT_OBJECTS = ("INV_LOCATIONS_OOTB",)
_INGEST_PATHS = ("/api/v2/ingest/object/", "/api/v2/objects/")
#: bytes a "huge" body holds: far over the exporter's 16 MB cap, produced in chunks, never held in memory
HUGE_BODY_BYTES = 400 * 1024 * 1024
_CHUNK = b"x" * 65536


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.closing = threading.Event()
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        #: POSTs to other objects' ingest paths (Locations), answered as the API does
        self.other_objects: dict[str, int] = {}
        self.authorizations: list[str] = []
        self.request_ids = itertools.count(1)
        #: the first success body a "replay_first" server gave; replayed for every later request
        self.replayed: bytes | None = None
        #: modes for the next requests, one each, before ``mode`` answers again
        self.script: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.command == "POST" and self._another_object():
            with self.server.lock:
                self.server.other_objects[self.path] = self.server.other_objects.get(self.path, 0) + 1
            rows = len(json.loads(body)["data"])
            self.answer_json(200, _success(rows, [], accepted=rows))
            return
        with self.server.lock:
            self.server.requests[self.path] = self.server.requests.get(self.path, 0) + 1
            self.server.authorizations.append(self.headers.get("Authorization") or "")
        try:
            rows = len(json.loads(body)["data"])
        except (ValueError, KeyError, TypeError):
            rows = 0
        with self.server.lock:
            mode = self.server.script.pop(0) if self.server.script else self.server.mode
        try:
            MODES[mode](self, rows)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up on us: that is the point
            self.close_connection = True

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _another_object(self) -> bool:
        path = self.path.split("?", 1)[0]
        return any(path == p + name for p in _INGEST_PATHS for name in PARENT_OBJECTS)

    # -- building blocks ------------------------------------------------------------------------------------------
    def answer(self, status: int, body: bytes = b"", content_type: str | None = "application/json",
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer_json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self.answer(status, json.dumps(payload).encode(), headers=headers)

    def trickle(self, data: bytes, *, seconds_per_byte: float = 1.0) -> None:
        for byte in data:
            if self.server.closing.wait(seconds_per_byte):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()


_REQUEST_IDS = itertools.count(1)


def _success(rows: int, failed: object, accepted: object = None) -> dict[str, object]:
    payload: dict[str, object] = {"requestId": f"hostile-{next(_REQUEST_IDS)}", "failed": failed}
    if accepted is not None:
        payload["accepted"] = accepted
    return payload


def _failed(failed: Callable[[int], object]) -> Callable[[_Handler, int], None]:
    return lambda h, rows: h.answer_json(200, _success(rows, failed(rows)))


def _redirect(status: int) -> Callable[[_Handler, int], None]:
    def mode(h: _Handler, rows: int) -> None:
        port = h.server.server_address[1]
        h.answer(status, b"", None, {"Location": f"http://127.0.0.1:{port}{REDIRECT_TARGET}"})

    return mode


def _retry_after(status: int, value: Callable[[], str]) -> Callable[[_Handler, int], None]:
    return lambda h, rows: h.answer_json(status, {"detail": "slow down"}, {"Retry-After": value()})


def _trickle_body(h: _Handler, rows: int) -> None:
    """Headers at once, then a valid acknowledgement one byte a second."""
    body = json.dumps(_success(rows, [], rows)).encode()
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.flush()
    h.trickle(body)


def _trickle_headers(h: _Handler, rows: int) -> None:
    """The status line and headers themselves one byte a second (a valid answer, if one waited minutes)."""
    body = json.dumps(_success(rows, [], rows)).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    h.trickle(head + body)
    h.close_connection = True


def _endless_trickle(h: _Handler, rows: int) -> None:
    """A chunked 200 that never ends: one space every half second until the server closes."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    h.wfile.write(b"1\r\n{\r\n")
    while not h.server.closing.wait(0.5):
        h.wfile.write(b"1\r\n \r\n")
        h.wfile.flush()
    h.close_connection = True


def _bogus_gzip(status: int) -> Callable[[_Handler, int], None]:
    def mode(h: _Handler, rows: int) -> None:
        body = json.dumps(_success(rows, [], rows)).encode()  # plain JSON, labelled gzip
        h.answer(status, body, headers={"Content-Encoding": "gzip"})

    return mode


def _huge_body(h: _Handler, rows: int) -> None:
    """A 200 whose body goes on for 400 MB (chunked, written piece by piece)."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    sent = 0
    while sent < HUGE_BODY_BYTES and not h.server.closing.is_set():
        h.wfile.write(b"%x\r\n%s\r\n" % (len(_CHUNK), _CHUNK))
        sent += len(_CHUNK)
    h.wfile.write(b"0\r\n\r\n")


def _echo(encode: Callable[[str], str]) -> Callable[[_Handler, int], None]:
    """A partial success whose row errors quote the token in the form ``encode`` gives (raw JSON text)."""

    def mode(h: _Handler, rows: int) -> None:
        echoed = encode(h.headers.get("Authorization") or "")
        failed = ", ".join(
            f'{{"index": {i}, "errors": [{{"code": "X1", "message": "bad row for {echoed}", "column": "{echoed}"}}]}}'
            for i in range(min(rows, 2))
        )
        body = f'{{"requestId": "r-{echoed}", "accepted": {rows - min(rows, 2)}, "failed": [{failed}]}}'
        h.answer(200, body.encode())

    return mode


def _replay_first(h: _Handler, rows: int) -> None:
    """A caching proxy: the first success body, answered again (same requestId, same counts) to every request."""
    with h.server.lock:
        if h.server.replayed is None:
            h.server.replayed = json.dumps(_success(rows, [], rows)).encode()
        body = h.server.replayed
    h.answer(200, body)


@functools.cache
def gzip_bomb(layers: int, decoded_mb: int) -> bytes:
    """A small body that decodes to ``decoded_mb`` MiB of spaces through ``layers`` stacked gzip encodings
    (built incrementally, once per process: never held decoded)."""
    first = zlib.compressobj(6, zlib.DEFLATED, 31)
    megabyte = b" " * (1 << 20)
    body = b"".join([first.compress(megabyte) for _ in range(decoded_mb)] + [first.flush()])
    for _ in range(layers - 1):
        body = gzip.compress(body, compresslevel=9)
    return body


def _gzip_bomb(layers: int, decoded_mb: int) -> Callable[[_Handler, int], None]:
    encoding = ", ".join(["gzip"] * layers)
    return lambda h, rows: h.answer(200, gzip_bomb(layers, decoded_mb), headers={"Content-Encoding": encoding})


def _gzipped_ok(layers: int) -> Callable[[_Handler, int], None]:
    def mode(h: _Handler, rows: int) -> None:
        body = json.dumps(_success(rows, [], rows)).encode()
        for _ in range(layers):
            body = gzip.compress(body)
        h.answer(200, body, headers={"Content-Encoding": ", ".join(["gzip"] * layers)})

    return mode


def _slow_ok(h: _Handler, rows: int) -> None:
    """A valid acknowledgement after one second of silence (a stop arrives while it is on the wire)."""
    time.sleep(1.0)
    h.answer_json(200, _success(rows, [], rows))


def _drop(h: _Handler, rows: int) -> None:
    """Close the connection without an answer."""
    h.close_connection = True
    h.connection.shutdown(2)


def _unicode_escape(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if c in "-aeiou" else c for c in text)


MODES: dict[str, Callable[[_Handler, int], None]] = {
    "ok": lambda h, rows: h.answer_json(200, _success(rows, [], rows)),
    "html_200": lambda h, rows: h.answer(200, b"<html><h1>Welcome to nginx!</h1></html>", "text/html"),
    "html_400": lambda h, rows: h.answer(
        400, b"<html><h1>400 The plain HTTP request was sent to HTTPS port</h1></html>", "text/html"),
    "invalid_json": lambda h, rows: h.answer(200, b'{"requestId": "r", "accepted": '),
    "empty_200": lambda h, rows: h.answer(200, b"", None),
    "202_no_body": lambda h, rows: h.answer(202, b"", None),
    "204_no_body": lambda h, rows: h.answer(204, b"", None),
    "json_list": lambda h, rows: h.answer_json(200, [rows]),
    "accepted_short": lambda h, rows: h.answer_json(200, _success(rows, [], max(rows - 1, 0))),
    "index_out_of_range": _failed(lambda rows: [{"index": rows, "errors": [{"code": "E"}]}]),
    "index_minus_one": _failed(lambda rows: [{"index": -1}]),
    "index_float": _failed(lambda rows: [{"index": 1.0}]),
    "index_string": _failed(lambda rows: [{"index": "2"}]),
    "index_true": _failed(lambda rows: [{"index": True}]),
    "failed_dict": _failed(lambda rows: {"index": 1}),
    "failed_string": _failed(lambda rows: "row 1 failed"),
    "failed_number": _failed(lambda rows: 1),
    "failed_true": _failed(lambda rows: True),
    "index_twice": _failed(lambda rows: [{"index": 1}, {"index": 1}]),
    "redirect_302": _redirect(302),
    "redirect_307": _redirect(307),
    "redirect_308": _redirect(308),
    "retry_after_86400": _retry_after(503, lambda: "86400"),
    "retry_after_date": _retry_after(429, lambda: formatdate(time.time() + 7 * 86400, usegmt=True)),
    "retry_after_nan": _retry_after(429, lambda: "nan"),
    "retry_after_negative": _retry_after(503, lambda: "-30"),
    "trickle_body": _trickle_body,
    "trickle_headers": _trickle_headers,
    "endless_trickle": _endless_trickle,
    "bogus_gzip_200": _bogus_gzip(200),
    "bogus_gzip_503": _bogus_gzip(503),
    "huge_body": _huge_body,
    "echo_raw": _echo(lambda token: token),
    # a 200 that is a JSON object, but not the success object
    "empty_object": lambda h, rows: h.answer_json(200, {}),
    "error_unauthorized": lambda h, rows: h.answer_json(200, {"error": "Unauthorized", "message": "invalid token"}),
    "detail_not_found": lambda h, rows: h.answer_json(200, {"detail": "Not Found"}),
    "status_queued": lambda h, rows: h.answer_json(200, {"status": "queued"}),
    "null_counts": lambda h, rows: h.answer_json(200, {"accepted": None, "failed": None}),
    "failed_too_long": lambda h, rows: h.answer_json(
        200, {"requestId": f"hostile-{next(_REQUEST_IDS)}", "accepted": 0, "failed": [{"index": 0}] * (rows + 1)}),
    "replay_first": _replay_first,
    "no_request_id": lambda h, rows: h.answer_json(200, {"accepted": rows, "failed": []}),
    "html_413": lambda h, rows: h.answer(
        413, b"<html><h1>413 Request Entity Too Large</h1><hr>nginx</html>", "text/html"),
    "gzip_bomb_stacked": _gzip_bomb(2, 128),
    "gzip_gzip_ok": _gzipped_ok(2),
    "slow_ok": _slow_ok,
    "status_502": lambda h, rows: h.answer_json(502, {"detail": "bad gateway"}),
    "status_503": lambda h, rows: h.answer_json(503, {"detail": "down"}),
    "status_400": lambda h, rows: h.answer_json(400, {"detail": "solutionName INV_OOTB is not known"}),
    "status_401": lambda h, rows: h.answer_json(401, {"detail": "bad token"}),
    "status_404": lambda h, rows: h.answer_json(404, {"detail": "no such object"}),
    "status_409": lambda h, rows: h.answer_json(409, {"detail": "conflict"}),
    "throttled_briefly": _retry_after(429, lambda: "0.3"),
    "drop": _drop,
    "echo_slash_escaped": _echo(lambda token: token.replace("/", "\\/")),
    "echo_unicode_escaped": _echo(_unicode_escape),
}


@dataclass
class HostileServer:
    base_url: str
    _server: _Server = field(repr=False)

    @property
    def requests(self) -> dict[str, int]:
        with self._server.lock:
            return dict(self._server.requests)

    @property
    def other_objects(self) -> dict[str, int]:
        """POSTs to other objects' ingest paths by path (a run's Locations)."""
        with self._server.lock:
            return dict(self._server.other_objects)

    @property
    def authorizations(self) -> list[str]:
        with self._server.lock:
            return list(self._server.authorizations)

    def set_script(self, *modes: str) -> None:
        """Answer the next requests with ``modes``, one each, then with the server's mode again."""
        unknown = [m for m in modes if m not in MODES]
        if unknown:
            raise KeyError(f"no hostile modes {unknown}")
        with self._server.lock:
            self._server.script = list(modes)

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise KeyError(f"no hostile mode {mode!r}; known: {', '.join(MODES)}")
        self._server.mode = mode


@contextmanager
def hostile_server(mode: str) -> Iterator[HostileServer]:
    """Serve ``mode`` on 127.0.0.1 (an ephemeral port) until the block ends."""
    server = _Server(mode)
    handle = HostileServer(f"http://127.0.0.1:{server.server_address[1]}", server)
    handle.set_mode(mode)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                              name=f"hostile-{mode}")
    thread.start()
    try:
        yield handle
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
