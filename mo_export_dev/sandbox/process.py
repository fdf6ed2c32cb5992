"""The sandbox in a process of its own, so a client's CPU is measured alone and killing the client
leaves the sandbox (and what it stored) alive."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from mo_export_dev.sandbox.admin_client import SandboxAdmin, SandboxError
from mo_export_dev.sandbox.config import SandboxConfig

READY_LINE = "sandbox ready at {url}"
#: (the same name as mo_export_dev.sandbox.command.WORKERS_ENV, which imports this module's READY_LINE)
WORKERS_ENV = "MO_SANDBOX_WORKERS"
_READY_PATTERN = re.compile(r"^sandbox ready at (\S+)$", re.MULTILINE)
#: Where the child takes its tokens from, so they never appear on a command line.
TOKEN_ENV = "PEAK_API_KEY"
READONLY_TOKENS_ENV = "MO_SANDBOX_READONLY_TOKENS"


class SandboxProcess(SandboxAdmin):
    """A sandbox started by :func:`start_sandbox_process`; ``stop()`` ends it (also on ``with`` exit)."""

    def __init__(self, process: subprocess.Popen[bytes], base_url: str, root_url: str, log_path: Path) -> None:
        super().__init__(root_url)
        self.process = process
        self.base_url = base_url
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it has not gone after ``timeout`` seconds; returns the exit code
        (0 after a graceful stop)."""
        self.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sandbox_arguments(config: SandboxConfig) -> list[str]:
    """The ``python -m mo_export_dev.sandbox`` options that reproduce ``config`` (tokens excepted: see the env)."""
    args = [
        "--host", config.host, "--port", str(config.port), "--prefix", config.prefix,
        "--solution-name", config.solution_name or "",
        "--max-rows", str(config.max_rows), "--max-bytes", str(config.max_bytes),
        "--rate-limit", repr(config.rate_limit_rps),
        "--latency-ms", repr(config.latency_ms), "--error-rate", repr(config.error_rate),
        "--drop-rate", repr(config.drop_rate), "--stall-rate", repr(config.stall_rate),
        "--stall-seconds", repr(config.stall_seconds),
        "--fail-after-store-rate", repr(config.fail_after_store_rate),
        "--burst-429-rate", repr(config.burst_429_rate), "--burst-429-seconds", repr(config.burst_429_seconds),
        "--seed", str(config.seed),
    ]
    for name in sorted(config.objects):
        args += ["--object", name]
    if config.rate_limit_burst is not None:
        args += ["--rate-burst", str(config.rate_limit_burst)]
    if config.store_path is not None:
        args += ["--store", str(config.store_path)]
    if config.allow_remote:
        args.append("--allow-remote")
    for number in sorted(config.refused_order_numbers):
        args += ["--refuse-order-number", number]
    if not config.schema_endpoint:
        args.append("--no-schema-endpoint")
    for column, api_type in config.schema_types:
        args += ["--schema-type", f"{column}={api_type}"]
    return args


def start_sandbox_process(config: SandboxConfig, log_path: Path, ready_timeout: float = 30.0) -> SandboxProcess:
    """Start ``python -m mo_export_dev.sandbox`` with ``config``; return once it answers.

    Its stdout and stderr go to ``log_path``; the ready line it prints there gives its URL (so
    ``port=0`` works). Raises :class:`SandboxError`, with the log's tail, if it exits or stays silent.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        TOKEN_ENV: config.token,
        READONLY_TOKENS_ENV: " ".join(sorted(config.readonly_tokens)),
        "PYTHONUNBUFFERED": "1",
        WORKERS_ENV: str(config.workers),
    }
    command = [sys.executable, "-m", "mo_export_dev.sandbox", *sandbox_arguments(config)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env)
    deadline = time.monotonic() + ready_timeout
    while True:
        text = log_path.read_text(errors="replace")
        found = _READY_PATTERN.search(text)
        if found is not None:
            base_url = found.group(1)
            root_url = base_url[: len(base_url) - len(config.normalized_prefix)] if config.prefix else base_url
            return SandboxProcess(process, base_url, root_url, log_path)
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
                process.wait()
            tail = "\n".join(text.splitlines()[-20:])
            raise SandboxError(
                f"the sandbox process did not become ready (exit code {process.returncode}); "
                f"log {log_path}:\n{tail}"
            )
        time.sleep(0.05)
