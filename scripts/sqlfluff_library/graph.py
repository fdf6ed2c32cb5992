"""Stand-in for dbt's `graph` when sqlfluff renders the SQL: every node exists and has no columns."""

from collections import defaultdict
from typing import Any


class _Node:
    """A node of the graph with no documented columns (and so no constraints)."""

    columns: dict[str, Any] = {}  # noqa: RUF012 - read-only stand-in


nodes: defaultdict[str, _Node] = defaultdict(_Node)
