"""glibc's mapping threshold is fixed by the `mo-export` process only, never by code that embeds the exporter."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: a probe run in a fresh interpreter: after glibc has raised its threshold (an 8 MB block freed), is a 6 MB
#: block still given a mapping of its own? Prints True or False.
PROBE = textwrap.dedent("""
    import ctypes, sys
    libc = ctypes.CDLL(None)
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                   "fsmblks", "uordblks", "fordblks", "keepcost")]
    libc.mallinfo2.restype = Info
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    def own_mapping(size):
        before = libc.mallinfo2().hblks
        block = libc.malloc(size)
        mapped = libc.mallinfo2().hblks - before
        libc.free(block)
        return mapped > 0
    own_mapping(8 << 20)
    {setup}
    print(own_mapping(6 << 20))
""")

linux_glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")


def probe(setup: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE.format(setup=setup)], capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.strip()


@linux_glibc
def test_the_console_scripts_tuning_keeps_large_blocks_in_mappings_of_their_own() -> None:
    assert probe("pass") == "False"  # glibc's own behaviour: the threshold rose with the first free
    assert probe("from exporter.malloc_tuning import return_large_frees_to_the_system as tune; "
                 "assert tune()") == "True"


@linux_glibc
def test_a_delivery_in_an_embedding_process_leaves_the_allocator_as_it_was() -> None:
    """The Dagster code location runs the export in its own process: a delivery there must not retune it."""
    setup = ("import threading; "
             "from exporter.deliver import deliver; from exporter.settings import load_settings; "
             "from exporter.outcomes import RequestIds; "
             "settings = load_settings({'dry_run': True}, environ={}); "
             "deliver([], 1, settings, record=None, request_ids=RequestIds(), stop=threading.Event())")
    assert probe(setup) == "False"
