"""The ``/_sandbox/`` admin endpoints seen from a test, the chaos run or the benchmark."""

from __future__ import annotations

from typing import Any

import httpx
import orjson


class SandboxAdmin:
    """Stats, stored rows and fault settings of a running sandbox, over HTTP."""

    def __init__(self, root_url: str, timeout: float = 30.0) -> None:
        self.root_url = root_url.rstrip("/")
        self._timeout = timeout
        self._http: httpx.Client | None = None

    def close(self) -> None:
        """Close the admin connection (the sandbox itself keeps running)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def stats(self) -> dict[str, Any]:
        """Requests by status code (``dropped`` for dropped connections), rows accepted / failed / stored,
        throttled requests and injected faults by kind, every object together; under ``objects``, per object
        name, ``{"requests", "rows_accepted", "rows_failed", "rows_stored"}``."""
        result: dict[str, Any] = self._call("GET", "/_sandbox/stats").json()
        return result

    def rows(self, object_name: str | None = None) -> list[dict[str, Any]]:
        """Every stored row: ``{"object_name", "key", "row", "first_written_at", "last_written_at",
        "write_count", "request_id"}``, ordered by object and key: of the manufacturing orders (every object
        but Locations) by default, of ``object_name`` if given, of every object for ``"*"``."""
        params = None if object_name is None else {"object": object_name}
        body = self._call("GET", "/_sandbox/rows", params=params).content
        return [orjson.loads(line) for line in body.splitlines() if line]

    def failed_rows(self) -> list[dict[str, Any]]:
        """Every stored manufacturing order whose location_id is no stored Locations row that is a factory,
        computed now: ``{"object_name", "key", "order_number", "location_id", "reason", "message",
        "location_updated_at"}``, ``reason`` being ``LOCATION_NOT_FOUND`` or ``LOCATION_NOT_FACTORY``."""
        result: list[dict[str, Any]] = self._call("GET", "/_sandbox/failed-rows").json()["failed_rows"]
        return result

    def faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_sandbox/faults").json()
        return result

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Change fault settings (any of SandboxConfig's fault fields, ``rate_limit_rps``,
        ``rate_limit_burst``, ``seed``); returns the settings now in force."""
        result: dict[str, Any] = self._call("POST", "/_sandbox/faults", content=orjson.dumps(settings)).json()
        return result

    def reset(self) -> None:
        """Empty the store and the counters; fault settings stay."""
        self._call("POST", "/_sandbox/reset")

    def _call(self, method: str, path: str, content: bytes | None = None,
              params: dict[str, str] | None = None) -> httpx.Response:
        if self._http is None:  # one client for every call: creating one costs tens of milliseconds
            self._http = httpx.Client(base_url=self.root_url, timeout=self._timeout)
        response = self._http.request(method, path, content=content, params=params)
        if response.status_code != 200:
            raise SandboxError(f"sandbox admin {method} {path} answered {response.status_code}: {response.text}")
        return response


class SandboxError(RuntimeError):
    """The sandbox could not start, or one of its admin endpoints refused a request."""
