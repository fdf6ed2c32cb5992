"""Which API the ledger's acknowledgements belong to.

A row acknowledged by the sandbox is not delivered to production, nor one acknowledged by a staging
tenant: every delivery, rejection and run in the export state carries the id of its destination, and a run
compares the model only with what *its* destination acknowledged. A destination is the API's base URL
(scheme, host and port, lowercased, without userinfo or trailing slash), the path the rows are posted to,
the object and the solution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Destination:
    base_url: str
    path: str
    object_name: str
    solution_name: str

    @classmethod
    def of(cls, *, base_url: str, path_template: str, object_name: str, solution_name: str) -> Destination:
        return cls(
            base_url=normalise_base_url(base_url),
            path=path_template.format(object_name=object_name),
            object_name=object_name,
            solution_name=solution_name,
        )

    @classmethod
    def from_settings(cls, settings: Any) -> Destination:
        """From :class:`exporter.settings.ExportSettings` (or the ``settings`` dict a run recorded)."""
        get = settings.get if isinstance(settings, dict) else lambda name: getattr(settings, name)
        return cls.of(
            base_url=str(get("base_url")),
            path_template=str(get("path_template")),
            object_name=str(get("object_name")),
            solution_name=str(get("solution_name")),
        )

    @property
    def label(self) -> str:
        """How runs and `status` show it: the URL the rows go to, and the solution."""
        return f"{self.base_url}{self.path} (solution {self.solution_name})"


def normalise_base_url(value: str) -> str:
    """One spelling per API: lowercase scheme and host, no userinfo, no default port, no trailing slash."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))
