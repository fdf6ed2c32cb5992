"""A local, Peak-compatible ingestion API on 127.0.0.1: the exporter's tests, chaos run and benchmark
talk real HTTP to it, and a whole export runs end to end without credentials.

It implements the Peak ingestion API as the project's API notes describe it, from its own reading of the
resource page (:mod:`mo_export_dev.sandbox.contract`; it imports nothing of the exporter, so the two can
disagree): both path templates under a configurable prefix, the bare-token ``Authorization`` header, the
envelope and its limits, two objects (manufacturing orders and Locations, each with its own contract and key),
row validation (codes in :mod:`mo_export_dev.sandbox.validation`), UPSERT/APPEND/dryRun into a SQLite store
(:mod:`mo_export_dev.sandbox.store`), a token-bucket rate limit (50 requests/s by default: pass
``rate_limit_rps=0`` for bulk tests), seeded fault injection (:mod:`mo_export_dev.sandbox.faults`) and,
like the platform's ``_failed_rows`` table, a later foreign-key check of the orders' locations
(``GET /_sandbox/failed-rows``).

Entry points:

* :func:`running_sandbox` - context manager, a sandbox on a background thread of this process;
* :func:`start_sandbox_process` - a sandbox in its own process (chaos run, benchmark);
* :func:`serve` - the foreground server behind ``python -m mo_export_dev.sandbox``;
* :func:`create_app` - the bare ASGI app.

The names below are imported on first use, so ``mo_export_dev.sandbox.command`` (the sandbox's command line)
loads neither Starlette nor uvicorn until the command runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mo_export_dev.sandbox.admin_client import SandboxAdmin, SandboxError
    from mo_export_dev.sandbox.app import create_app
    from mo_export_dev.sandbox.config import DEFAULT_SANDBOX_TOKEN, SandboxConfig, SandboxConfigError
    from mo_export_dev.sandbox.process import SandboxProcess, start_sandbox_process
    from mo_export_dev.sandbox.server import SandboxHandle, running_sandbox, serve

_WHERE = {
    "SandboxAdmin": "admin_client",
    "SandboxError": "admin_client",
    "create_app": "app",
    "DEFAULT_SANDBOX_TOKEN": "config",
    "SandboxConfig": "config",
    "SandboxConfigError": "config",
    "SandboxProcess": "process",
    "start_sandbox_process": "process",
    "SandboxHandle": "server",
    "running_sandbox": "server",
    "serve": "server",
}

__all__ = [
    "DEFAULT_SANDBOX_TOKEN",
    "SandboxAdmin",
    "SandboxConfig",
    "SandboxConfigError",
    "SandboxError",
    "SandboxHandle",
    "SandboxProcess",
    "create_app",
    "running_sandbox",
    "serve",
    "start_sandbox_process",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mo_export_dev.sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mo_export_dev.sandbox.{module}"), name)
    globals()[name] = value
    return value
