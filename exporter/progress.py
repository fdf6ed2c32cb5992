"""The progress bar a person sees on a terminal (and nothing elsewhere)."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    def __init__(self, *, total: int, enabled: bool) -> None:
        self._bar = (
            tqdm(total=total, unit="row", unit_scale=True, desc="exporting", file=sys.stderr, dynamic_ncols=True)
            if enabled and total > 0
            else None
        )

    def update(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
