"""Masking a secret in every form a response can carry it: one rule for stored, logged and reported text.

:func:`mask_secret` replaces the token by ``********`` wherever the text carries it, in any of these forms:

* **as is**, in **any letter case** (``PAT-E2E-SECRET-7F3A9C``, ``Pat-E2e-...``);
* **a prefix of 8 or more characters** of it (the token cut short, e.g. without its last 3 characters), in
  any case and in every form below; the whole prefix is masked, whatever follows it stays;
* **JSON-escaped**: ``\\/``, ``\\"``, ``\\\\`` and ``\\uXXXX`` for any character;
* **HTML entities**: named (``&sol;``, ``&amp;``, any HTML5 name), decimal (``&#112;``) and hex
  (``&#x70;``, either case), the ``;`` optional after a numeric one;
* **URL-encoded once or twice** (``%2F``, ``%252F``), either case of the hex digits; ``+`` or ``%20`` for a
  space (a token has none, so either spelling of one is harmless);
* any **mix of the escapes above, nested up to three levels** (e.g. JSON-escaped after URL-encoding);
* **base64** (standard and URL-safe alphabet, with or without padding), also when the token sits inside a
  longer encoded string such as ``Basic base64("user:" + token)``: the token's bytes may start at any of the
  three byte alignments of a base64 group, so each alignment has its own needle. The token as is, lower- and
  upper-cased is looked for; an 8-character prefix suffices. A base64 hit masks the whole base64 word it is
  in (the encoded neighbours of the token would otherwise still give away its first and last bytes).

How: the text is searched as is and as it reads after decoding every escape (each decoded character keeps
the span of the original text it came from), so the mask covers exactly the original characters that spell
the token, and nothing else: text without the secret comes back unchanged (the same object), and so does a
text with only a shorter piece of it (``SECRET``, ``pat-e2e``). That relies on the token being long enough
not to occur by chance, which the settings check (a token has at least 12 characters).

Cost: a text without ``\\``, ``&`` or ``%`` costs two regular-expression scans (the case-insensitive prefix
and the base64 needles); escapes add one decoding pass per level, in C but for a Python call per escape.
The per-token needles are computed once (cached). See tests/test_masking.py for the measured figures.

The HTTP client masks response text with it before it is stored or reported, and the log filter masks every
log line and the CLI's last error with it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import lru_cache
from html.entities import html5

MASK = "********"
MIN_PREFIX = 8  # characters of the token that, leading a word, count as the token
_MAX_LEVELS = 3  # escape layers decoded (URL twice plus one JSON/HTML layer)

_ESCAPE = re.compile(
    r"\\u(?P<u>[0-9a-fA-F]{4})"
    r"|\\(?P<c>[\"\\/bfnrt])"
    r"|%(?P<pct>[0-9a-fA-F]{2})"
    r"|&#[xX](?P<hex>[0-9a-fA-F]{1,6});?"
    r"|&#(?P<dec>[0-9]{1,7});?"
    r"|&(?P<name>[A-Za-z][A-Za-z0-9]{1,31};)"
)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# a base64 word, in either alphabet: the standard one's ``+/`` or the URL-safe one's ``-_``
_B64_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")


def mask_secret(text: str, secret: str) -> str:
    """``text`` with ``secret`` replaced by ``********`` in every form a response can carry it.

    The forms are listed in the module docstring: as is in any case, a prefix of 8+ characters, JSON-escaped,
    HTML entities, URL-encoded once or twice, base64 and URL-safe base64 at any alignment. Text without the
    secret is returned unchanged.
    """
    if not secret or not text:
        return text
    return _matcher(secret).mask(text)


@dataclass(frozen=True)
class _Matcher:
    secret: str
    head: str  # the first MIN_PREFIX characters, lower-cased (the quick pre-check)
    prefix: re.Pattern[str]  # the same, any case
    needles: tuple[str, ...]  # every base64 needle (the quick pre-check)
    b64: re.Pattern[str]  # the same, as one pattern

    def mask(self, text: str) -> str:
        escaped = "%" in text or "\\" in text or "&" in text
        if not escaped and self.head not in text.lower() and not any(n in text for n in self.needles):
            return text  # the quick pre-check: str.find, no regular expression
        spans = self._spans(text, None)
        if escaped:
            view, starts, ends = text, None, None
            for _ in range(_MAX_LEVELS):
                decoded = _decode(view, starts, ends)
                if decoded is None:
                    break
                view, starts, ends = decoded
                spans += self._spans(view, (starts, ends))
                if "%" not in view and "\\" not in view and "&" not in view:
                    break
        if not spans:
            return text
        return _replace(text, spans)

    def _spans(self, view: str, where: tuple[list[int], list[int]] | None) -> list[tuple[int, int]]:
        """Spans of the original text that spell the secret in ``view`` (the text itself when ``where`` is None)."""
        found: list[tuple[int, int]] = []
        for match in self.prefix.finditer(view):
            start, end = match.start(), match.end()
            secret, n = self.secret, len(view)
            while end < n and end - start < len(secret) and _same(view[end], secret[end - start]):
                end += 1
            found.append((start, end))
        for match in self.b64.finditer(view):
            found.append(_word_around(view, match.start(), match.end()))
        if where is None or not found:
            return found
        starts, ends = where
        return [(starts[s], ends[e - 1]) for s, e in found]


def _same(a: str, b: str) -> bool:
    return a == b or a.casefold() == b.casefold()


def _word_around(view: str, start: int, end: int) -> tuple[int, int]:
    """The whole base64 word (with its ``=`` padding) the needle at ``start:end`` is in."""
    while start > 0 and view[start - 1] in _B64_WORD_CHARS:
        start -= 1
    n = len(view)
    while end < n and view[end] in _B64_WORD_CHARS:
        end += 1
    while end < n and view[end] == "=":
        end += 1
    return start, end


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    spans.sort()
    pieces, position = [], 0
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in merged:
        pieces.append(text[position:start])
        pieces.append(MASK)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _decode(
    view: str, starts: list[int] | None, ends: list[int] | None
) -> tuple[str, list[int], list[int]] | None:
    """``view`` with every escape decoded, and for each decoded character the span of the original text it
    comes from (through ``starts``/``ends`` of an earlier level); None when nothing was decoded."""
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    position = 0
    decoded_any = False
    for match in _ESCAPE.finditer(view):
        value = _unescape(match)
        if value is None:
            continue
        decoded_any = True
        s, e = match.start(), match.end()
        if s > position:  # literal characters keep their own spans
            out.append(view[position:s])
            if starts is None or ends is None:
                new_starts.extend(range(position, s))
                new_ends.extend(range(position + 1, s + 1))
            else:
                new_starts.extend(starts[position:s])
                new_ends.extend(ends[position:s])
        origin_start = s if starts is None else starts[s]
        origin_end = e if ends is None else ends[e - 1]
        out.append(value)
        new_starts.extend([origin_start] * len(value))
        new_ends.extend([origin_end] * len(value))
        position = e
    if not decoded_any:
        return None
    n = len(view)
    out.append(view[position:])
    if starts is None or ends is None:
        new_starts.extend(range(position, n))
        new_ends.extend(range(position + 1, n + 1))
    else:
        new_starts.extend(starts[position:])
        new_ends.extend(ends[position:])
    return "".join(out), new_starts, new_ends


def _unescape(match: re.Match[str]) -> str | None:
    groups = match.groupdict()
    if groups["u"] is not None:
        return _char(int(groups["u"], 16))
    if groups["c"] is not None:
        return _SIMPLE_ESCAPES[groups["c"]]
    if groups["pct"] is not None:
        return chr(int(groups["pct"], 16))
    if groups["hex"] is not None:
        return _char(int(groups["hex"], 16))
    if groups["dec"] is not None:
        return _char(int(groups["dec"]))
    return html5.get(groups["name"]) or None


def _char(code: int) -> str | None:
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


@lru_cache(maxsize=32)
def _matcher(secret: str) -> _Matcher:
    head = secret[:MIN_PREFIX]
    needles: set[str] = set()
    for variant in (secret, secret.lower(), secret.upper()):
        for needle in _base64_needles(variant.encode("utf-8")):
            needles.update({needle, needle.replace("+", "-").replace("/", "_")})  # standard, URL-safe
    ordered = tuple(sorted(needles))
    b64 = re.compile("|".join(re.escape(n) for n in ordered) or "(?!)")
    return _Matcher(secret, head.lower(), re.compile(re.escape(head), re.IGNORECASE), ordered, b64)


def _base64_needles(head: bytes) -> list[str]:
    """For each of the three byte alignments, the base64 characters that depend on ``head``'s first
    ``MIN_PREFIX`` bytes alone (two full groups: 8 characters), whatever bytes come before or after."""
    needles = []
    usable = min(len(head), MIN_PREFIX)
    for alignment in range(3):
        skip = (3 - alignment) % 3  # bytes of the token that share a group with the bytes before it
        whole = (usable - skip) // 3 * 3
        if whole < 6:  # fewer than 8 base64 characters would occur by chance
            continue
        needle = base64.b64encode(head[skip : skip + whole]).decode()
        needles.append(needle)
    return needles
