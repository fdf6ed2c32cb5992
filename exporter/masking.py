"""Masking a secret in every form a response can carry it: one rule for stored, logged and reported text.

Forms: as is, JSON-escaped (``\\/`` and ``\\uXXXX``, as a server writing JSON may emit), URL-encoded
(either case of the hex digits, ``+`` or ``%20``). The HTTP client masks response text with it before it is
stored or reported, and the log filter masks every log line and the CLI's last error with it.
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus

import orjson

MASK = "********"

_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def mask_secret(text: str, secret: str) -> str:
    """``text`` with ``secret`` replaced by ``********`` in every form a response can carry it.

    Forms: as is, JSON-escaped (``\\/`` and ``\\uXXXX``, as a server writing JSON may emit), URL-encoded
    (either case of the hex digits, ``+`` or ``%20``). Text without the secret is returned unchanged, so
    masking never garbles a message; that relies on the token being long enough not to occur by chance,
    which the settings check (a token has at least 12 characters).
    """
    if not secret or not text:
        return text
    for form in _forms(secret):
        text = text.replace(form, MASK)
    if "\\" in text:
        decoded = _JSON_ESCAPE.sub(_unescape, text)
        if secret in decoded:  # only then is the decoded form shown: it differs from what came back
            text = decoded.replace(secret, MASK)
    return text


def _forms(secret: str) -> list[str]:
    encoded = {quote(secret, safe=""), quote_plus(secret)}
    forms = {secret, secret.replace("/", "\\/"), orjson.dumps(secret).decode()[1:-1]}
    for form in encoded:
        forms.update({form, _lower_hex(form)})
    return sorted(forms, key=len, reverse=True)


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def _unescape(match: re.Match[str]) -> str:
    escape = match.group(1)
    if escape[0] == "u":
        return chr(int(escape[1:], 16))
    return _SIMPLE_ESCAPES[escape]
