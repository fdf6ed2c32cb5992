"""Process-wide C-library tuning that only the `mo-export` process itself may apply.

glibc raises its threshold for an allocation with a mapping of its own the first time such a block is freed;
after that, request bodies (200 KB at 500 rows, built on the sender threads) come from each thread's heap, and
those heaps keep what they held: the 197,000-row export peaked at 261-263 MB where it peaks at 240 MB with the
threshold fixed at 128 KiB (the CPU of the extra mappings is within the runs' noise; docs/performance.md).

The setting cannot be read back or undone, so it belongs to the process that owns its allocator: the console
script calls :func:`return_large_frees_to_the_system` once at start-up. Code that embeds the exporter (the
Dagster code location, tests) keeps its C library's defaults.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

#: glibc's mallopt parameter for the size from which an allocation gets its own mapping, and the size set
M_MMAP_THRESHOLD = -3
LARGE_ALLOCATION_BYTES = 128 * 1024


def return_large_frees_to_the_system() -> bool:
    """Keep glibc's mapping threshold at 128 KiB; True when set. Anything but Linux with a C library that has
    ``mallopt`` (musl, macOS, Windows) is left as it is."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if not mallopt(M_MMAP_THRESHOLD, LARGE_ALLOCATION_BYTES):
        log.debug("mallopt(M_MMAP_THRESHOLD) was refused; request bodies use the C library's defaults")
        return False
    return True
