"""Which API the ledger's acknowledgements belong to.

A row acknowledged by the sandbox is not delivered to production, nor one acknowledged by a staging
tenant: every delivery, rejection and run in the export state carries the id of its destination, and a run
compares the model only with what *its* destination acknowledged. A destination is the API's origin
(scheme, host and port, lowercased, without userinfo), the whole path the rows are posted to (the base
URL's path joined with the path template, repeated slashes folded, however the two settings split it),
the object, the solution, and a fingerprint of the token. The tenants of one cluster share an ingestion
host and, by default, the solution name: only the personal access token tells a staging tenant from
production at the same URL. The fingerprint is a slow, salted hash (PBKDF2), never the token: it tells two
tokens apart without giving the token away. A new token for the same tenant therefore sends every row
once more, which UPSERT makes harmless.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_FINGERPRINT_SALT = b"mo-export destination token"
_FINGERPRINT_ITERATIONS = 100_000


@dataclass(frozen=True)
class Destination:
    base_url: str
    path: str
    object_name: str
    solution_name: str
    #: :func:`token_fingerprint` of the token the rows are sent with; None where it is not known (a run
    #: recorded before destinations knew tokens, or a caller without a token)
    token_fingerprint: str | None = None

    @classmethod
    def of(
        cls, *, base_url: str, path_template: str, object_name: str, solution_name: str, token: str | None = None
    ) -> Destination:
        origin, base_path = split_base_url(base_url)
        return cls(
            base_url=origin,
            path=normalise_path(base_path + "/" + path_template.format(object_name=object_name)),
            object_name=object_name,
            solution_name=solution_name,
            token_fingerprint=token_fingerprint(token) if token else None,
        )

    @classmethod
    def from_settings(cls, settings: Any) -> Destination:
        """From :class:`exporter.settings.ExportSettings` (or the ``settings`` dict a run recorded, which
        holds no token)."""
        get = settings.get if isinstance(settings, dict) else lambda name: getattr(settings, name)
        secret = None if isinstance(settings, dict) else settings.api_key
        return cls.of(
            base_url=str(get("base_url")),
            path_template=str(get("path_template")),
            object_name=str(get("object_name")),
            solution_name=str(get("solution_name")),
            token=secret.reveal() if secret is not None else None,
        )

    @property
    def label(self) -> str:
        """How runs and `status` show it: the URL the rows go to, and the solution."""
        return f"{self.base_url}{self.path} (solution {self.solution_name})"


def token_fingerprint(token: str) -> str:
    """16 hex digits that differ between tokens; slow to compute, so a short token cannot be guessed back."""
    digest = hashlib.pbkdf2_hmac("sha256", token.encode(), _FINGERPRINT_SALT, _FINGERPRINT_ITERATIONS)
    return digest[:8].hex()


def normalise_base_url(value: str) -> str:
    """One spelling per API: lowercase scheme and host, no userinfo, no default port, no trailing slash."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, normalise_path(parts.path), "", ""))


def split_base_url(value: str) -> tuple[str, str]:
    """The base URL as (origin, path): a destination is the URL the rows are posted to, however it is split
    between PEAK_BASE_URL and the path template (``https://h/ingestion-api`` + ``/api/...`` is ``https://h``
    + ``/ingestion-api/api/...``)."""
    parts = urlsplit(normalise_base_url(value))
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")), parts.path


def normalise_path(path: str) -> str:
    """One spelling per path: repeated slashes folded (``//api`` is ``/api``), no trailing slash."""
    return re.sub(r"/{2,}", "/", path).rstrip("/")
