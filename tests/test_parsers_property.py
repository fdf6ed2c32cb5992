"""The docs/behaviour.md#parsing macros agree with the Python reference on generated text (hypothesis).

Each macro is compiled once per session to a SQL expression over a column `v`; each hypothesis example is
a batch of inputs loaded into an in-memory DuckDB table `t(i, v)` and evaluated there in one query.
Inputs: arbitrary unicode and control characters, empty and very long values, and near misses of valid
timestamps and numbers (one character changed, separators swapped, fields out of range, extra digits,
zone variants, surrounding whitespace).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reference import parsers

MACROS = ("clean_text", "parse_timestamp", "parse_whole_number", "parse_boolean", "map_status")

#: The reference function per macro, with its output in the text form DuckDB casts the macro's value to.
REFERENCE: dict[str, Callable[[str], str | None]] = {
    "clean_text": parsers.clean_text,
    "parse_timestamp": lambda v: _timestamp_text(parsers.parse_timestamp(v)),
    "parse_whole_number": lambda v: _optional_text(parsers.parse_whole_number(v)),
    "parse_boolean": lambda v: "true" if parsers.parse_boolean(v) else "false",
    "map_status": parsers.map_status,
}

BATCH = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _timestamp_text(value: datetime | None) -> str | None:
    # isoformat, not strftime: strftime('%Y') drops the leading zeros of years below 1000.
    return None if value is None else value.isoformat(sep=" ")


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


@pytest.fixture(scope="module")
def evaluate(compile_inline: Callable[[str], str]) -> Iterator[Callable[[list[str | None]], dict[str, list]]]:
    """``evaluate(values) -> {macro: [output as text, per value]}`` with the real macros, in DuckDB."""
    columns = ", ".join(f"cast({{{{ {m}('v') }}}} as varchar) as {m}" for m in MACROS)
    compiled = compile_inline(f"select i, {columns} from t order by i")
    con = duckdb.connect()

    def run(values: list[str | None]) -> dict[str, list]:
        con.execute("create or replace table t (i integer, v varchar)")
        con.executemany("insert into t values (?, ?)", list(enumerate(values)))
        rows = con.execute(compiled).fetchall()
        assert [r[0] for r in rows] == list(range(len(values)))
        return {m: [r[k + 1] for r in rows] for k, m in enumerate(MACROS)}

    yield run
    con.close()


def assert_agrees(evaluate: Callable[[list[str | None]], dict[str, list]], values: list[str | None],
                  macros: tuple[str, ...] = MACROS) -> None:
    actual = evaluate(values)
    disagreements = [
        f"{macro}({value!r}): reference {REFERENCE[macro](value)!r}, macro {got!r}"
        for macro in macros
        for value, got in zip(values, actual[macro], strict=True)
        if value is not None and REFERENCE[macro](value) != got
    ]
    assert not disagreements, f"{len(disagreements)} disagreement(s):\n" + "\n".join(disagreements[:10])


# --- strategies --------------------------------------------------------------------------------------

WHITESPACE = st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2003\u3000\u2028\u0085", max_size=3)
#: Characters a near miss is built from: separators, digits, zone letters, unicode look-alikes.
NEAR_MISS_CHARS = "0123456789-:+.TZtz /,_e\t\n\u00a0\u0663\uff11\u2212"


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """``base`` with zero to two one-character edits (delete, insert, replace, swap) and stray whitespace."""
    text = draw(base)
    for _ in range(draw(st.integers(0, 2))):
        if not text:
            break
        pos = draw(st.integers(0, len(text) - 1))
        char = draw(st.sampled_from(NEAR_MISS_CHARS))
        edit = draw(st.sampled_from(("delete", "insert", "replace", "swap")))
        if edit == "delete":
            text = text[:pos] + text[pos + 1:]
        elif edit == "insert":
            text = text[:pos] + char + text[pos:]
        elif edit == "replace":
            text = text[:pos] + char + text[pos + 1:]
        elif pos + 1 < len(text):
            text = text[:pos] + text[pos + 1] + text[pos] + text[pos + 2:]
    return draw(WHITESPACE) + text + draw(WHITESPACE)


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


@st.composite
def timestamp_like(draw: st.DrawFn) -> str:
    """Mostly well-formed timestamp text whose fields wander just past their valid ranges."""
    year = draw(st.one_of(st.integers(1, 9999), st.sampled_from([0, 1, 1970, 2024, 2025, 9999])))
    text = f"{year:04d}-{draw(_two(0, 13))}-{draw(_two(0, 32))}"
    if draw(st.booleans()):
        return text + draw(st.sampled_from(["", "Z", "+01:00"]))  # a date alone takes no zone
    text += draw(st.sampled_from(["T", " ", "t", "  ", "_"]))
    text += f"{draw(_two(0, 25))}:{draw(_two(0, 61))}:{draw(_two(0, 61))}"
    if draw(st.booleans()):
        text += draw(st.sampled_from([".", ","])) + draw(st.text(alphabet="0123456789", max_size=12))
    zone = draw(st.sampled_from(["", "Z", "z", "+", "-", "sep"]))
    if zone in ("+", "-"):
        text += zone + draw(_two(0, 25)) + draw(st.sampled_from([":", "", " "])) + draw(_two(0, 61))
    elif zone == "sep":
        text += draw(st.sampled_from([" Z", "+1", "+01", "+01:0", "+001:00", "UTC", "+01:00:00"]))
    else:
        text += zone
    return text


@st.composite
def number_like(draw: st.DrawFn) -> str:
    """Decimal text with optional sign, leading zeros, fractions (zero or not) and 64-bit edge values."""
    sign = draw(st.sampled_from(["", "", "+", "-", "--", "+-"]))
    digits = draw(st.one_of(
        st.text(alphabet="0123456789", min_size=1, max_size=25),
        st.sampled_from(["9223372036854775807", "9223372036854775808", "9223372036854775806",
                         "18446744073709551616", "0", "00", "1"]),
    ))
    fraction = draw(st.one_of(
        st.just(""),
        st.text(alphabet="0", min_size=0, max_size=4).map(lambda z: "." + z),
        st.text(alphabet="0123456789", min_size=1, max_size=5).map(lambda d: "." + d),
        st.sampled_from(["e3", "E-2", ",000", "_000", "."]),
    ))
    return sign + digits + fraction


def word_like(words: list[str]) -> st.SearchStrategy[str]:
    """One of ``words`` in random letter case."""
    return st.tuples(st.sampled_from(words), st.randoms()).map(
        lambda pair: "".join(c.upper() if pair[1].random() < 0.5 else c.lower() for c in pair[0])
    )


ARBITRARY = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="ascii"), max_size=30),
    st.text(alphabet=st.characters(categories=["Cc", "Zs", "Zl", "Zp", "Cf"]), max_size=8),
    st.tuples(st.text(min_size=1, max_size=8), st.integers(200, 3000)).map(lambda p: p[0] * p[1]),
    st.just(""),
)
TIMESTAMPS = st.one_of(mutated(timestamp_like()), timestamp_like())
NUMBERS = st.one_of(mutated(number_like()), number_like())
WORDS = mutated(word_like(["true", "t", "yes", "y", "1", "false", "no", "CRTD", "REL", "PCNF", "CNF",
                           "TECO", "DLT", "DONE", "0"]))


def batches(element: st.SearchStrategy[str]) -> st.SearchStrategy[list[str | None]]:
    return st.lists(st.one_of(element, st.none()), min_size=1, max_size=40)


# --- tests -------------------------------------------------------------------------------------------


@BATCH
@given(batches(ARBITRARY))
def test_every_macro_agrees_with_reference_on_arbitrary_text(evaluate, values: list[str | None]) -> None:
    assert_agrees(evaluate, values)


@BATCH
@given(batches(TIMESTAMPS))
def test_parse_timestamp_agrees_with_reference_on_near_miss_timestamps(evaluate, values: list[str | None]) -> None:
    assert_agrees(evaluate, values, ("parse_timestamp", "clean_text"))


@BATCH
@given(batches(NUMBERS))
def test_parse_whole_number_agrees_with_reference_on_near_miss_numbers(evaluate, values: list[str | None]) -> None:
    assert_agrees(evaluate, values, ("parse_whole_number", "clean_text"))


@BATCH
@given(batches(WORDS))
def test_boolean_and_status_agree_with_reference_on_mixed_case_words(evaluate, values: list[str | None]) -> None:
    assert_agrees(evaluate, values, ("parse_boolean", "map_status", "clean_text"))


def test_null_input_is_missing_for_every_macro(evaluate) -> None:
    assert evaluate([None]) == {
        "clean_text": [None],
        "parse_timestamp": [None],
        "parse_whole_number": [None],
        "parse_boolean": ["false"],
        "map_status": [None],
    }
