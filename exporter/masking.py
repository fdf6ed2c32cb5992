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

Cost, for text without the secret: a quick pre-check with ``str.find`` (the lower-cased 8-character prefix
and the base64 needles) and three scans for an escape, each starting with a literal character; only a text
that holds an escape (``%2F``, ``&#47;``, ``\\u002f``...) is decoded, and the span map back to the original
is built only for a text that holds the secret, one entry per escape. Measured (tests/test_masking.py,
best of five): a 4 KB error body about 15 us; a 500-entry ``failed`` array (67 KB) about 0.3 ms as one text,
about 1-2 ms as 500 messages masked one by one. The per-token needles are computed once (cached). A hostile
16 MB body made of escapes costs seconds; the run's callers mask bounded slices (4 KB, one field).

The HTTP client masks response text with it before it is stored or reported, and the log filter masks every
log line and the CLI's last error with it.
"""

from __future__ import annotations

import base64
import re
from array import array
from bisect import bisect_right
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
_ESCAPE_STARTS = (re.compile(r"%[0-9a-fA-F]{2}"), re.compile(r"\\[u\"\\/bfnrt]"), re.compile(r"&#?[0-9A-Za-z]"))
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
        spans = self._spans(text)  # after a quick pre-check with str.find
        if _has_escape(text):
            levels: list[_Level] = []
            view = text
            for _ in range(_MAX_LEVELS):
                decoded = _ESCAPE.sub(_substitute, view)
                if decoded == view:
                    break
                levels.append(_Level(view))
                view = decoded
                for start, end in self._spans(view):
                    for level in reversed(levels):
                        start, end = level.back(start, end)
                    spans.append((start, end))
                if not _has_escape(view):
                    break
        if not spans:
            return text
        return _replace(text, spans)

    def _maybe(self, view: str) -> bool:
        return self.head in view.lower() or any(needle in view for needle in self.needles)

    def _spans(self, view: str) -> list[tuple[int, int]]:
        """The spans of ``view`` that spell the secret (a prefix of it, any case) or hold its base64 form."""
        if not self._maybe(view):
            return []
        found: list[tuple[int, int]] = []
        secret, n = self.secret, len(view)
        for match in self.prefix.finditer(view):
            start, end = match.start(), match.end()
            while end < n and end - start < len(secret) and _same(view[end], secret[end - start]):
                end += 1
            found.append((start, end))
        for match in self.b64.finditer(view):
            found.append(_word_around(view, match.start(), match.end()))
        return found


class _Level:
    """One decoding step of a text: from its escapes (found again only when a hit must be mapped back, so
    a text without the secret never pays for it), the span of ``source`` each decoded character comes from.

    Memory is one entry per escape (four unsigned ints), not one per character.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._records: tuple[array[int], array[int], array[int], array[int]] | None = None

    def back(self, start: int, end: int) -> tuple[int, int]:
        """The span of ``source`` that decodes to ``decoded[start:end]``."""
        return self._origin(start)[0], self._origin(end - 1)[1]

    def _origin(self, position: int) -> tuple[int, int]:
        decoded_at, decoded_len, source_start, source_end = self._escapes()
        i = bisect_right(decoded_at, position) - 1
        if i < 0:
            return position, position + 1
        if position < decoded_at[i] + decoded_len[i]:
            return source_start[i], source_end[i]
        literal = source_end[i] + position - decoded_at[i] - decoded_len[i]
        return literal, literal + 1

    def _escapes(self) -> tuple[array[int], array[int], array[int], array[int]]:
        if self._records is None:
            decoded_at, decoded_len = array("Q"), array("Q")
            source_start, source_end = array("Q"), array("Q")
            shift = 0  # decoded position minus source position so far
            for match in _ESCAPE.finditer(self.source):
                value = _unescape(match)
                if value is None:
                    continue
                decoded_at.append(match.start() + shift)
                decoded_len.append(len(value))
                source_start.append(match.start())
                source_end.append(match.end())
                shift += len(value) - (match.end() - match.start())
            self._records = decoded_at, decoded_len, source_start, source_end
        return self._records


def _has_escape(text: str) -> bool:
    """Whether ``text`` holds an escape :data:`_ESCAPE` decodes (or a lookalike); three scans that each start
    with a literal character, which the regular-expression engine skips to in C, unlike one alternation."""
    return any(pattern.search(text) for pattern in _ESCAPE_STARTS)


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


def _substitute(match: re.Match[str]) -> str:
    value = _unescape(match)
    return match.group(0) if value is None else value


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
