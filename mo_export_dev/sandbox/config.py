"""The sandbox's settings: one frozen dataclass, built by the CLI or by a test."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path

from mo_export_dev.sandbox import contract


class SandboxConfigError(ValueError):
    """A sandbox setting is missing, malformed or out of range (the CLI shows it and exits 3)."""


#: The token a sandbox accepts when none is given (tests only; the CLI requires one).
DEFAULT_SANDBOX_TOKEN = "sandbox-token"


@dataclass(frozen=True)
class SandboxConfig:
    """Everything a sandbox needs. Tokens never appear in the repr.

    ``port=0`` picks a free port. ``solution_name=None`` accepts any non-empty solution name.
    ``store_path=None`` keeps the store in a fresh temporary directory. ``rate_limit_rps=0`` turns the
    rate limit off; ``rate_limit_burst=None`` means a burst as large as one second's worth of requests.
    ``schema_endpoint=False`` answers the schema paths with 404; ``schema_types`` (column, type) pairs serve
    another type than the contract's for those columns (see :mod:`mo_export_dev.sandbox.schema`).
    The fault settings (latency and the ``*_rate`` probabilities, 0..1) are only the starting values:
    ``POST /_sandbox/faults`` changes them at run time.
    """

    host: str = "127.0.0.1"
    port: int = 0
    token: str = field(default=DEFAULT_SANDBOX_TOKEN, repr=False)
    readonly_tokens: frozenset[str] = field(default=frozenset(), repr=False)
    #: the object names the API knows: manufacturing orders and Locations (any name but Locations' is served
    #: with the manufacturing orders' contract)
    objects: frozenset[str] = frozenset(contract.DEFAULT_OBJECTS)
    solution_name: str | None = contract.SOLUTION
    prefix: str = ""
    store_path: Path | None = None
    max_rows: int = contract.ROWS_PER_REQUEST_MOST
    max_bytes: int = contract.BYTES_PER_REQUEST
    rate_limit_rps: float = contract.REQUESTS_PER_SECOND
    rate_limit_burst: int | None = None
    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 30.0
    fail_after_store_rate: float = 0.0
    burst_429_rate: float = 0.0
    burst_429_seconds: float = 5.0
    seed: int = 0
    allow_remote: bool = False
    #: rows with these order numbers are refused (DI_E_00012), as the real API refuses rows for reasons
    #: of its own that the exporter cannot check beforehand (tests of row rejections use it)
    refused_order_numbers: frozenset[str] = frozenset()
    schema_endpoint: bool = True
    schema_types: tuple[tuple[str, str], ...] = ()
    #: processes that parse and validate request bodies beside the event loop (0: the event loop does);
    #: the command line takes it from MO_SANDBOX_WORKERS
    workers: int = 0

    def __post_init__(self) -> None:
        if not self.token:
            raise SandboxConfigError("sandbox: the token must not be empty (--token or PEAK_API_KEY)")
        if self.token in self.readonly_tokens:
            raise SandboxConfigError("sandbox: the write token must not also be listed as a read-only token")
        if not self.objects:
            raise SandboxConfigError("sandbox: at least one object name is needed (--object)")
        if not 0 <= self.port <= 65535:
            raise SandboxConfigError(f"sandbox: port {self.port} is outside 0..65535")
        for name in ("max_rows", "max_bytes"):
            if getattr(self, name) < 1:
                raise SandboxConfigError(f"sandbox: {name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.workers <= 64:
            raise SandboxConfigError(f"sandbox: workers must be within 0..64, got {self.workers}")
        if self.rate_limit_rps < 0:
            raise SandboxConfigError(f"sandbox: rate_limit_rps must be >= 0 (0 = off), got {self.rate_limit_rps}")
        if self.rate_limit_burst is not None and self.rate_limit_burst < 1:
            raise SandboxConfigError(f"sandbox: rate_limit_burst must be >= 1, got {self.rate_limit_burst}")
        unknown = [column for column, _ in self.schema_types if column not in contract.COLUMN_NAMES]
        if unknown:
            raise SandboxConfigError(
                f"sandbox: schema type for unknown column {unknown[0]!r}; "
                f"the columns are {', '.join(contract.COLUMN_NAMES)}"
            )
        # the fault settings share their checks with the run-time admin endpoint
        from mo_export_dev.sandbox.faults import FaultSettings

        FaultSettings.from_config(self)

    @property
    def normalized_prefix(self) -> str:
        """The path prefix with one leading slash and no trailing one ('' when there is none)."""
        stripped = self.prefix.strip("/")
        return f"/{stripped}" if stripped else ""

    @property
    def effective_burst(self) -> int:
        if self.rate_limit_burst is not None:
            return self.rate_limit_burst
        return max(1, round(self.rate_limit_rps))


def config_field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(SandboxConfig))


def check_bind_allowed(config: SandboxConfig) -> None:
    """Refuse a host that is not loopback unless the config says ``allow_remote``.

    The sandbox has no TLS, and its admin endpoints can wipe its store; it belongs on 127.0.0.1.
    """
    if config.allow_remote:
        return
    try:
        infos = socket.getaddrinfo(config.host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SandboxConfigError(f"sandbox: cannot resolve host {config.host!r}: {exc}") from exc
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(is_loopback(address) for address in addresses):
        raise SandboxConfigError(
            f"sandbox: refusing to listen on {config.host!r}, which is not a loopback address; "
            "use 127.0.0.1, or pass --allow-remote if you really mean to expose it"
        )


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
