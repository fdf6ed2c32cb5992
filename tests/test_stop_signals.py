"""StopSignals: a signal is a request to stop; after a stop, no later signal can kill the exiting process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os, signal
    from exporter.signals import StopSignals
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        if {stop}:
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.event.wait(5)
            os.kill(os.getpid(), signal.SIGINT)  # a second signal changes nothing
    handlers = {{signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}}
    print(stop.name, stop.count, "ignored" if handlers == {{signal.SIG_IGN}} else
          "restored" if signal.getsignal(signal.SIGTERM) is before else "other")
""")


def run(stop: bool) -> str:
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(stop=stop)], capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.strip()


def test_after_a_stop_sigterm_and_sigint_are_ignored_at_the_c_level_while_the_process_exits() -> None:
    """The interpreter resets Python-level handlers as it shuts down: only SIG_IGN survives that window."""
    assert run(stop=True) == "SIGTERM 2 ignored"


def test_a_run_without_a_signal_gives_the_previous_handlers_back() -> None:
    assert run(stop=False) == "None 0 restored"
