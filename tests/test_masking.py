"""mask_secret: the token is masked in every encoding a server may echo it in, and nothing else changes.

Each form is put where a server would put it (a row error message in a JSON body) and the whole body is
checked: the mask is there, the token is gone, and every character around it is the same as before.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import orjson
import pytest

from exporter.masking import MASK, mask_secret

TOKEN = "pat-e2e-SECRET-7f3a9c"
SLASHED = "pat/e2e+SECRET.7f_3a9c"  # a token with the characters escapes treat specially


def _all_percent(text: str, case: str = "%{:02X}") -> str:
    return "".join(case.format(ord(c)) for c in text)


def _html_named(text: str) -> str:
    names = {"/": "&sol;", "+": "&plus;", ".": "&period;", "_": "&lowbar;", "-": "&#45;"}
    return "".join(names.get(c, c) for c in text)


#: name -> (token, how the server writes it)
FORMS: dict[str, tuple[str, Callable[[str], str]]] = {
    "as is": (TOKEN, lambda t: t),
    "upper case": (TOKEN, str.upper),
    "lower case": (TOKEN, str.lower),
    "mixed case": (TOKEN, str.swapcase),
    "without its last 3 characters": (TOKEN, lambda t: t[:-3]),
    "its first 8 characters": (TOKEN, lambda t: t[:8]),
    "json slash escaped": (SLASHED, lambda t: t.replace("/", "\\/")),
    "json unicode escaped, every character": (TOKEN, lambda t: "".join(f"\\u{ord(c):04x}" for c in t)),
    "json unicode escaped, upper hex, some characters": (
        TOKEN, lambda t: "".join(f"\\u{ord(c):04X}" if c in "-eE7" else c for c in t)),
    "html decimal entities": (TOKEN, lambda t: "".join(f"&#{ord(c)};" for c in t)),
    "html hex entities": (TOKEN, lambda t: "".join(f"&#x{ord(c):x};" for c in t)),
    "html hex entities, upper X": (TOKEN, lambda t: "".join(f"&#X{ord(c):X};" for c in t)),
    "html named entities": (SLASHED, _html_named),
    "html escaped as OWASP advises (slash as &#x2F;)": (SLASHED, lambda t: html.escape(t).replace("/", "&#x2F;")),
    "url encoded": (SLASHED, lambda t: quote(t, safe="")),
    "url encoded, plus form": (SLASHED, quote_plus),
    "url encoded, lower hex": (SLASHED, lambda t: quote(t, safe="").lower()),
    "url encoded, every character": (TOKEN, _all_percent),
    "url encoded twice": (SLASHED, lambda t: quote(quote(t, safe=""), safe="")),
    "url encoded twice, every character, lower hex": (TOKEN, lambda t: quote(_all_percent(t, "%{:02x}"))),
    "url encoded then json escaped": (SLASHED, lambda t: quote(t, safe="").replace("%", "\\u0025")),
    "url encoded, upper case": (TOKEN, lambda t: quote(t.upper(), safe="")),
    "base64": (TOKEN, lambda t: base64.b64encode(t.encode()).decode()),
    "base64 without padding": (TOKEN, lambda t: base64.b64encode(t.encode()).decode().rstrip("=")),
    "url-safe base64": (SLASHED, lambda t: base64.urlsafe_b64encode(t.encode()).decode()),
    "base64 upper case token": (TOKEN, lambda t: base64.b64encode(t.upper().encode()).decode()),
    "base64 without its last 3 characters": (TOKEN, lambda t: base64.b64encode(t[:-3].encode()).decode()),
    "base64, json slash escaped": (SLASHED, lambda t: base64.b64encode(t.encode()).decode().replace("/", "\\/")),
    "base64, url encoded": (SLASHED, lambda t: quote(base64.b64encode(t.encode()).decode(), safe="")),
    **{
        f"Basic base64({prefix!r} + token), alignment {len(prefix) % 3}": (
            TOKEN, lambda t, p=prefix: "Basic " + base64.b64encode((p + t).encode()).decode())
        for prefix in ("user:", "ab:", "a:", "")
    },
    **{
        f"url-safe base64 inside a longer string, alignment {len(prefix) % 3}": (
            SLASHED, lambda t, p=prefix: base64.urlsafe_b64encode(f"{p}{t}>>?".encode()).decode())
        for prefix in ("x", "xy", "xyz")
    },
}


def _body(echoed: str) -> str:
    """A partial success body whose row errors quote ``echoed``, as a careless API would."""
    failed = [{"index": 0, "errors": [{"code": "X1", "message": "bad row for {}", "column": "plannedQuantity"}]}]
    return orjson.dumps({"requestId": "r-1", "accepted": 4, "failed": failed}).decode().replace("{}", echoed)


@pytest.mark.parametrize("name", list(FORMS))
def test_every_encoding_of_the_token_is_masked_and_the_text_around_it_kept(name: str) -> None:
    token, encode = FORMS[name]
    echoed = encode(token)
    assert echoed not in ("", token) or name in ("as is",)
    masked = mask_secret(_body(echoed), token)
    assert masked == _body(MASK) or masked == _body(f"Basic {MASK}"), masked


def test_a_prefix_is_masked_where_it_stands_and_what_follows_it_is_kept() -> None:
    assert mask_secret(f"token {TOKEN[:-3]}XYZ refused", TOKEN) == f"token {MASK}XYZ refused"
    assert mask_secret(f"see {TOKEN[:8]}", TOKEN) == f"see {MASK}"


def test_every_occurrence_is_masked_in_any_mix_of_forms() -> None:
    text = f"{TOKEN} / {quote(quote(TOKEN.upper(), safe=''), safe='')} / {base64.b64encode(TOKEN.encode()).decode()}"
    assert mask_secret(text, TOKEN) == f"{MASK} / {MASK} / {MASK}"


@pytest.mark.parametrize(
    "text",
    [
        "plannedQuantity must be >= 0 (got -3)",
        "SECRET pat-e2e 7f3a9c PAT-E2E e2e-SEC",  # pieces of the token, each shorter than 8 characters
        "pat&#45;e2e &amp; 100% done, 50%25 left: \\n \\u00e9 \\/ &nope; &#xZZ; %zz &#99999999;",
        "Basic dXNlcjpvdGhlci10b2tlbg== is another user's token",
        "",
        "ünïcödé İstanbul ß \u212a \x00 \x1b[32m",
    ],
)
def test_text_without_the_token_comes_back_unchanged(text: str) -> None:
    assert mask_secret(text, TOKEN) is text


def test_an_empty_secret_masks_nothing() -> None:
    assert mask_secret(f"x {TOKEN}", "") == f"x {TOKEN}"


def test_masking_text_without_the_token_is_cheap() -> None:
    """A 4 KB error body and a 500-entry ``failed`` array (the whole body, and each message alone) cost well
    under a millisecond each; the figures are printed (``-s``) for the record."""
    failed = [{"index": i, "errors": [{"code": "X1", "column": "plannedQuantity",
                                       "message": f"row {i}: plannedQuantity must be >= 0 (got -{i}) & 10% over"}]}
              for i in range(500)]
    array_body = orjson.dumps({"requestId": "r-1", "accepted": 1500, "failed": failed}).decode()
    messages = [entry["errors"][0]["message"] for entry in failed]
    body_4k = array_body[:4096]
    plain_4k = body_4k.replace("&", "and").replace("%", " pct")

    def per_call(work: Callable[[], object], repeat: int) -> float:
        """The best of five rounds (a shared CI machine adds noise, never speed)."""
        rounds = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(repeat):
                work()
            rounds.append((time.perf_counter() - started) / repeat)
        return min(rounds)

    figures = {
        "4 KB body with & and %": per_call(lambda: mask_secret(body_4k, TOKEN), 100),
        "4 KB body, no escapes": per_call(lambda: mask_secret(plain_4k, TOKEN), 100),
        f"500-entry failed array ({len(array_body) // 1024} KB)": per_call(lambda: mask_secret(array_body, TOKEN), 10),
        "500 messages, one call each": per_call(lambda: [mask_secret(m, TOKEN) for m in messages], 10),
    }
    print({name: f"{seconds * 1e6:.0f} us" for name, seconds in figures.items()})
    assert figures["4 KB body, no escapes"] < 0.001
    assert figures["4 KB body with & and %"] < 0.005
    assert figures["500 messages, one call each"] < 0.05
    assert mask_secret(array_body, TOKEN) is array_body
