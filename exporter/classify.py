"""What one HTTP exchange means: the only code that turns an answer, or the lack of one, into an outcome.

:func:`classify` judges an answer; :func:`classify_failure` judges a request that got no usable answer (a
transport exception or an unusable body, :mod:`exporter.transport`). Both return an
:data:`~exporter.outcomes.Outcome` and never raise on what a server sends.

* :class:`Acknowledged` only for positive evidence: a 2xx whose body is the API's success object, parsed
  strictly (:func:`parse_acknowledgement`): a JSON object with a non-empty string ``requestId``, an integer
  ``accepted`` (not a bool) and an array ``failed`` of objects, each with an integer ``index`` inside the
  batch and no index twice; ``accepted`` plus the failed rows equal to the rows sent; no field naming an
  error (``error``, ``errors``, ``detail``, ``message``, a ``status`` other than a success word); and a
  ``requestId`` that no other batch of the destination was acknowledged with (a caching proxy replaying an
  answer). A tenant whose answers carry fewer fields names the ones they carry in ``MO_ACK_FIELDS``
  (never fewer than one that counts the rows); fields present are checked all the same.
* :class:`Unconfirmed` for everything else that may pass: 5xx, 429 (throttled), 408/425, a timeout, a
  dropped connection, a body over the cap, undecodable or in an unsupported encoding, and every 2xx that
  is not the success object.
* :class:`Refused` for 400/413: the request as a whole; ``detail`` is the API's ``detail`` text exactly
  (token masked), so the halves of a split can be compared with their parent.
* :class:`Fatal` for a redirect (never followed; the message names the ``Location``), 401/403/404, any
  other 4xx, an untrusted certificate or failed TLS handshake, an unusable URL.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpcore
import httpx
import orjson

from exporter.errors import AuthError, ConfigError
from exporter.outcomes import (
    Acknowledged,
    Fatal,
    Outcome,
    Refused,
    RequestIds,
    RowRejection,
    Unconfirmed,
    request_key,
)
from exporter.settings import ACK_FIELDS, ExportSettings, redacted_url
from exporter.transport import BodyError, BodyTooLarge

#: how much of a body an error message quotes
QUOTED_BODY_CHARS = 120
#: top-level fields whose presence (with a value) names an error, not a success
#: top-level fields that name an error (``message`` alone does not: a success body may say "ok" in it)
ERROR_FIELDS = ("error", "errors", "detail")
#: the values of a top-level ``status`` that a success object may carry
#: a success object holds one object per failed row plus its errors: a body with more '{' than this many per
#: row sent (plus one) is not parsed at all, so a 'failed' array far longer than the batch builds no objects
MAX_OBJECTS_PER_ROW = 64
SUCCESS_WORDS = frozenset({"ok", "success", "succeeded", "successful", "completed", "complete", "done"})

Mask = Callable[[str], str]


def classify(
    status: int,
    headers: Mapping[str, str] | httpx.Headers,
    body: bytes,
    n_rows: int,
    settings: ExportSettings,
    mask: Mask,
    request_ids: RequestIds,
) -> Outcome:
    """Turn one HTTP answer to a request of ``n_rows`` rows into its outcome (see the module docstring)."""
    headers = httpx.Headers(headers)
    if 200 <= status < 300:
        return _acknowledgement(status, headers, body, n_rows, settings, mask, request_ids)
    if status == 429:
        return Unconfirmed(came_back(status, headers, body, mask), retry_after(headers), throttled=True)
    if status >= 500 or status in (408, 425):
        return Unconfirmed(came_back(status, headers, body, mask), retry_after(headers))
    if 300 <= status < 400:
        return Fatal(redirect_error(status, headers, mask))
    if status in (400, 413):
        api_detail = _api_detail(body, mask)
        detail = api_detail if api_detail is not None else _quoted(body, mask)
        return Refused(status, detail, from_api=_is_json_object(body), came_back=came_back(status, headers, body, mask))
    detail = _short_detail(body, mask)
    object_name, solution = settings.object_name, settings.solution_name
    if status == 401:
        return Fatal(AuthError(
            f"the ingestion API answered 401 ({detail}): check that PEAK_API_KEY holds a valid "
            "personal access token for this tenant, sent bare (no 'Bearer ' prefix), with access to "
            f"solution {solution!r}"
        ))
    if status == 403:
        return Fatal(AuthError(
            f"the ingestion API answered 403 ({detail}): the token in PEAK_API_KEY was recognised but may "
            f"not write to {object_name!r} in solution {solution!r}. "
            "Use a personal access token with write access to that solution (sent bare, no 'Bearer ' "
            "prefix), or check the solution name (PEAK_SOLUTION_NAME)"
        ))
    endpoint = redacted_url(settings.endpoint)
    if status == 404:
        return Fatal(AuthError(
            f"the ingestion API answered 404 for {endpoint} ({detail}): check the object name "
            f"({object_name!r}), the base URL (PEAK_BASE_URL) and the path template"
        ))
    return Fatal(ConfigError(
        f"the ingestion API answered {status} for {endpoint} ({detail}): a refusal of the request as a "
        "whole, not of its rows, so nothing is recorded as rejected and every row stays pending. Check the "
        "base URL (PEAK_BASE_URL), the path template (PEAK_PATH_TEMPLATE) and the object name"
    ))


def classify_failure(exc: Exception, settings: ExportSettings, mask: Mask) -> Unconfirmed | Fatal:
    """The outcome of a request that got no usable answer: the one place transport faults are mapped.

    An untrusted certificate, a failed TLS handshake or an unusable URL is Fatal (only a setting fixes it);
    a refused, reset or timed-out connection, a body over the cap or undecodable is Unconfirmed."""
    if isinstance(exc, BodyTooLarge):
        return Unconfirmed(f"{mask(str(exc))}, not the API's acknowledgement")
    if isinstance(exc, BodyError):
        return Unconfirmed(mask(str(exc))[:300])
    text = mask(str(exc))
    host = httpx.URL(settings.endpoint).host
    if isinstance(exc, httpcore.ConnectError | OSError) and "CERTIFICATE_VERIFY_FAILED" in text:
        return Fatal(ConfigError(
            f"the TLS certificate of {host} is not trusted ({_ssl_reason(text)}): "
            "point --ca-bundle (MO_CA_BUNDLE) at the CA that signed it, or fix the base URL"
        ))
    if isinstance(exc, httpcore.ConnectError) and ("SSL" in text or "TLS" in text):
        return Fatal(ConfigError(f"TLS handshake with {host} failed: {_ssl_reason(text)}"))
    if isinstance(exc, httpcore.UnsupportedProtocol | httpx.InvalidURL):
        return Fatal(ConfigError(f"cannot send to {redacted_url(settings.endpoint)}: {text}"))
    name = type(exc).__name__
    return Unconfirmed(f"{name}: {text}"[:500] if text else name)


# -- the success object ------------------------------------------------------------------------------------------
class NotAnAcknowledgement(ValueError):
    """A 2xx body that is not the API's success object; the message says why."""


def parse_acknowledgement(
    body: bytes, n_rows: int, required: frozenset[str] = frozenset(ACK_FIELDS)
) -> tuple[str, int | None, list[dict[str, Any]] | None]:
    """``(requestId or "", accepted, failed entries)`` of a success object for a request of ``n_rows`` rows,
    or :class:`NotAnAcknowledgement`. ``required`` names the fields that must be present."""
    if not body.strip():
        raise NotAnAcknowledgement("an empty body")
    objects = body.count(b"{")
    if objects > (n_rows + 1) * MAX_OBJECTS_PER_ROW:  # before orjson builds them: 'failed' is longer than the batch
        raise NotAnAcknowledgement(
            f"a body of {objects} JSON objects for {n_rows} rows sent ('failed' longer than the batch?)")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise NotAnAcknowledgement("a body that is not JSON") from None
    if not isinstance(payload, dict):
        raise NotAnAcknowledgement(f"a JSON {_json_kind(payload)}, not an object")
    named = [key for key in ERROR_FIELDS if payload.get(key) not in (None, "", [], {})]
    if named:
        raise NotAnAcknowledgement(f"a body naming an error ({', '.join(repr(k) for k in named)})")
    state = payload.get("status")
    if state is not None and not (isinstance(state, str) and state.strip().lower() in SUCCESS_WORDS):
        raise NotAnAcknowledgement(f"'status' is {_short_value(state)}, not a success")
    request_id = payload.get("requestId")
    if request_id is not None and not (isinstance(request_id, str) and request_id.strip()):
        raise NotAnAcknowledgement(f"'requestId' is {_short_value(request_id)}, not a non-empty string")
    accepted = payload.get("accepted")
    if accepted is not None and (type(accepted) is not int or not 0 <= accepted <= n_rows):
        raise NotAnAcknowledgement(f"'accepted' is {_short_value(accepted)} for {n_rows} rows sent")
    failed = payload.get("failed")
    if failed is not None:
        if not isinstance(failed, list):
            raise NotAnAcknowledgement(f"'failed' is a JSON {_json_kind(failed)}, not an array")
        if len(failed) > n_rows:  # before any entry is looked at
            raise NotAnAcknowledgement(f"'failed' lists {len(failed)} entries for {n_rows} rows sent")
        seen: set[int] = set()
        for position, entry in enumerate(failed):
            index = entry.get("index") if isinstance(entry, dict) else None
            if type(index) is not int or not 0 <= index < n_rows:
                raise NotAnAcknowledgement(f"'failed'[{position}] has no integer index within the {n_rows} rows sent")
            if index in seen:
                raise NotAnAcknowledgement(f"'failed' names row {index} twice")
            seen.add(index)
    lacking = [name for name in ACK_FIELDS if name in required and payload.get(name) is None]
    if lacking:
        raise NotAnAcknowledgement(
            f"the success object lacks {', '.join(repr(n) for n in lacking)} (MO_ACK_FIELDS names the fields "
            f"this destination's answers must carry: {', '.join(n for n in ACK_FIELDS if n in required)})")
    n_failed = len(failed) if failed is not None else None
    if accepted is not None and n_failed is not None and accepted + n_failed != n_rows:
        raise NotAnAcknowledgement(f"'accepted' is {accepted} for {n_rows} rows sent and {n_failed} failed")
    if accepted is not None and n_failed is None and accepted != n_rows:
        raise NotAnAcknowledgement(
            f"'accepted' is {accepted} for {n_rows} rows sent and no 'failed' says which rows were not")
    return (request_id or ""), accepted, failed


def _acknowledgement(
    status: int, headers: httpx.Headers, body: bytes, n_rows: int, settings: ExportSettings, mask: Mask,
    request_ids: RequestIds,
) -> Outcome:
    try:
        request_id, _, failed = parse_acknowledgement(body, n_rows, settings.ack_fields)
    except NotAnAcknowledgement as why:
        return Unconfirmed(f"{came_back(status, headers, body, mask)}: {why}, not the API's acknowledgement")
    # the claim is on the id as it came (two ids that differ only inside a masked token are two ids); what is
    # shown and stored is the masked id and a keyed digest of the raw one
    key = request_key(request_id) if request_id else ""
    request_id = mask(request_id)
    if key and not request_ids.claim(key):
        return Unconfirmed(
            f"{came_back(status, headers, body, mask)}: a replayed answer: requestId {request_id!r} was "
            "acknowledged for another batch (a caching proxy?), not the API's acknowledgement of this request")
    rejections: list[RowRejection] = []
    for entry in failed or ():
        rejections.extend(_row_rejections(entry["index"], entry.get("errors"), status, mask))
    return Acknowledged(request_id=request_id, rejections=tuple(rejections), request_key=key)


def missing_ack_fields(body: bytes) -> list[str]:
    """The success-object fields a body lacks (for `mo-export check`: what a tenant's answers carry)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return list(ACK_FIELDS)
    if not isinstance(payload, dict):
        return list(ACK_FIELDS)
    return [name for name in ACK_FIELDS if payload.get(name) is None]


def _row_rejections(index: int, errors: Any, status: int, mask: Mask) -> list[RowRejection]:
    """The row's errors as the API listed them; tolerant of missing or odd fields (the row is rejected anyway)."""
    listed = errors if isinstance(errors, list) and errors else [errors if errors is not None else {}]
    out = []
    for listed_error in listed:
        error: dict[str, Any] = listed_error if isinstance(listed_error, dict) else {"message": str(listed_error)}
        texts = {key: mask(str(error[key])) for key in ("code", "message", "category", "column")
                 if error.get(key) not in (None, "")}
        out.append(RowRejection(
            row_index=index,
            error_code=texts.get("code", "UNKNOWN"),
            message=texts.get("message", ""),
            category=texts.get("category"),
            column_name=texts.get("column"),
            http_status=status,
        ))
    return out


# -- texts taken from an answer -----------------------------------------------------------------------------------
def redirect_error(status: int, headers: httpx.Headers, mask: Mask) -> ConfigError:
    location = mask(redacted_url(headers.get("Location", "")))[:300] or "nowhere (no Location header)"
    return ConfigError(
        f"the ingestion API answered {status}, a redirect to {location}: the exporter never follows a "
        "redirect (the token would go along) and sent nothing more. Set PEAK_BASE_URL (--base-url) to "
        "the address the API answers at; every row stays pending"
    )


def came_back(status: int, headers: httpx.Headers, body: bytes, mask: Mask) -> str:
    """What came back, for a message: status, content type, size and the first bytes (token masked)."""
    kind = headers.get("Content-Type") or "no content type"
    if not body:
        return f"HTTP {status} ({kind}, empty body)"
    first = mask(body[:4096].decode("utf-8", "replace"))[:QUOTED_BODY_CHARS]  # masked before it is cut
    more = "..." if len(body) > QUOTED_BODY_CHARS else ""
    return f"HTTP {status} ({kind}, {len(body)} bytes: {first!r}{more})"


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date); None if missing or unusable."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # RFC 5322 "-0000": UTC
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _api_detail(body: bytes, mask: Mask) -> str | None:
    """The API's ``detail`` text exactly (masked), or None when the body is no JSON object with one."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or payload.get("detail") is None:
        return None
    detail = payload["detail"]
    return mask(detail if isinstance(detail, str) else orjson.dumps(detail).decode())


def _quoted(body: bytes, mask: Mask) -> str:
    """The body's first characters; masked before it is cut, so no piece of the token survives the cut."""
    return mask(body[:4096].decode("utf-8", "replace"))[:200] or "no body"


def _short_detail(body: bytes, mask: Mask) -> str:
    detail = _api_detail(body, mask)
    return detail[:500] if detail is not None else _quoted(body, mask)


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(orjson.loads(body), dict)
    except orjson.JSONDecodeError:
        return False


def _json_kind(value: object) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return kinds.get(type(value), type(value).__name__)


def _short_value(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _ssl_reason(text: str) -> str:
    return text.split("] ", 1)[-1].split(" (_ssl")[0][:200]
