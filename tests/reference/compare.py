"""Row-by-row comparison of two row multisets with a readable report of the first differences."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any


def _sort_key(row: tuple[Any, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is None, str(value)) for value in row)


def describe_differences(
    expected: Sequence[tuple[Any, ...]],
    actual: Sequence[tuple[Any, ...]],
    *,
    columns: Sequence[str],
    key_columns: int = 1,
    limit: int = 5,
) -> str:
    """Empty string when both hold the same rows (as multisets); otherwise the first differing rows.

    Rows are paired by their first ``key_columns`` values so a wrong attribute shows as expected/actual
    side by side, naming the differing columns.
    """
    missing = Counter(expected) - Counter(actual)
    extra = Counter(actual) - Counter(expected)
    if not missing and not extra:
        return ""
    extra_by_key: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in sorted(extra.elements(), key=_sort_key):
        extra_by_key.setdefault(row[:key_columns], []).append(row)
    lines = [
        f"{sum(missing.values())} expected row(s) missing or different, {sum(extra.values())} unexpected "
        f"row(s) (of {len(expected)} expected, {len(actual)} actual); first differences:"
    ]
    for row in sorted(missing.elements(), key=_sort_key)[:limit]:
        partners = extra_by_key.get(row[:key_columns])
        if partners:
            other = partners.pop(0)
            differing = [
                f"{name}: expected {a!r}, actual {b!r}"
                for name, a, b in zip(columns, row, other, strict=True)
                if a != b
            ]
            lines.append(f"  {dict(zip(columns[:key_columns], row, strict=False))}: " + "; ".join(differing))
        else:
            lines.append(f"  missing: {dict(zip(columns, row, strict=True))}")
    leftover = [r for rows in extra_by_key.values() for r in rows]
    for row in leftover[:limit]:
        lines.append(f"  unexpected: {dict(zip(columns, row, strict=True))}")
    return "\n".join(lines)
