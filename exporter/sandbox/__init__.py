"""A local, Peak-compatible ingestion API on 127.0.0.1: the exporter's tests, chaos run and benchmark
talk real HTTP to it, and a whole export runs end to end without credentials.

It implements the Peak ingestion API as the project's API notes describe it: both path templates
under a configurable prefix, the bare-token ``Authorization`` header, the envelope and its limits, row
validation against :mod:`exporter.contract` (codes in :mod:`exporter.sandbox.validation`),
UPSERT/APPEND/dryRun into a SQLite store (:mod:`exporter.sandbox.store`), a token-bucket rate limit
(50 requests/s by default: pass ``rate_limit_rps=0`` for bulk tests) and seeded fault injection
(:mod:`exporter.sandbox.faults`).

Entry points:

* :func:`running_sandbox` - context manager, a sandbox on a background thread of this process;
* :func:`start_sandbox_process` - a sandbox in its own process (chaos run, benchmark);
* :func:`serve` - the foreground server behind ``mo-export sandbox``;
* :func:`create_app` - the bare ASGI app.
"""

from exporter.sandbox.admin_client import SandboxAdmin, SandboxError
from exporter.sandbox.app import create_app
from exporter.sandbox.config import DEFAULT_SANDBOX_TOKEN, SandboxConfig
from exporter.sandbox.process import SandboxProcess, start_sandbox_process
from exporter.sandbox.server import SandboxHandle, running_sandbox, serve

__all__ = [
    "DEFAULT_SANDBOX_TOKEN",
    "SandboxAdmin",
    "SandboxConfig",
    "SandboxError",
    "SandboxHandle",
    "SandboxProcess",
    "create_app",
    "running_sandbox",
    "serve",
    "start_sandbox_process",
]
