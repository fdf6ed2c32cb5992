"""Running the sandbox: in the foreground (``serve``, for the CLI) or on a background thread
(``running_sandbox``, for tests in the same process)."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from mo_export_dev.sandbox.admin_client import SandboxAdmin, SandboxError
from mo_export_dev.sandbox.app import SandboxState, create_app
from mo_export_dev.sandbox.config import SandboxConfig, SandboxConfigError, check_bind_allowed

log = logging.getLogger("mo_export_dev.sandbox")

_STARTUP_TIMEOUT_S = 15.0
#: uvloop and httptools (uvicorn's C event loop and HTTP parser) when installed: on a 780 kB request of
#: 2,000 rows the pure-Python h11 parser and asyncio's loop cost more CPU than validating the rows.
_LOOP = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
_HTTP = "httptools" if importlib.util.find_spec("httptools") else "h11"
_SHUTDOWN_TIMEOUT_S = 10.0


class _Server(uvicorn.Server):
    """A uvicorn server that reports when it is ready to answer."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._on_ready is not None:
            self._on_ready()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM shut the server down gracefully and the process then exits 0 (uvicorn would
        re-raise the signal, so a clean stop would look like a kill to whoever started it)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


@dataclass(frozen=True)
class _Prepared:
    server: _Server
    sock: socket.socket
    root_url: str
    state: SandboxState

    @property
    def base_url(self) -> str:
        return self.root_url + self.state.config.normalized_prefix


def _prepare(config: SandboxConfig, on_ready: Callable[[str], None] | None) -> _Prepared:
    check_bind_allowed(config)
    sock = _bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    root_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    app = create_app(config)
    state: SandboxState = app.state.sandbox
    uv_config = uvicorn.Config(
        app,
        loop=_LOOP,
        http=_HTTP,
        ws="none",
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=2,
        log_config=None,
    )
    base_url = root_url + config.normalized_prefix
    server = _Server(uv_config, (lambda: on_ready(base_url)) if on_ready is not None else None)
    return _Prepared(server, sock, root_url, state)


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted connections only then, and without it
    # every response waits ~40 ms for a delayed ACK between its header and body writes
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise SandboxConfigError(f"sandbox: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def serve(config: SandboxConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Run the sandbox until SIGINT/SIGTERM; ``on_ready`` gets the base URL once it answers."""
    prepared = _prepare(config, on_ready)
    try:
        prepared.server.run(sockets=[prepared.sock])
    finally:
        prepared.sock.close()


class SandboxHandle(SandboxAdmin):
    """A sandbox running on a background thread: its URLs, its store and its admin endpoints."""

    def __init__(self, base_url: str, root_url: str, store_path: Path, config: SandboxConfig) -> None:
        super().__init__(root_url)
        self.base_url = base_url
        self.store_path = store_path
        self.config = config


@contextmanager
def running_sandbox(config: SandboxConfig | None = None) -> Iterator[SandboxHandle]:
    """Run a sandbox in this process on a background thread (``port=0`` picks a free port)."""
    config = config or SandboxConfig()
    prepared = _prepare(config, None)
    thread = threading.Thread(
        target=prepared.server.run, kwargs={"sockets": [prepared.sock]}, name="sandbox", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not prepared.server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise SandboxError(f"the sandbox on {prepared.root_url} did not start")
            time.sleep(0.01)
        handle = SandboxHandle(prepared.base_url, prepared.root_url, prepared.state.store.path, config)
        try:
            yield handle
        finally:
            handle.close()
    finally:
        prepared.server.should_exit = True
        thread.join(_SHUTDOWN_TIMEOUT_S)
        prepared.sock.close()
        if thread.is_alive():
            log.warning("the sandbox thread did not stop within %ss", _SHUTDOWN_TIMEOUT_S)
