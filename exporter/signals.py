"""SIGTERM and SIGINT during a run: a request to stop, however many arrive, never a kill.

:class:`StopSignals` is installed once for the whole run (from deciding to writing the summary) and restored
after it, so a second signal a moment after the first finds the same handler: it is logged and changes
nothing. The delivery stage stops scheduling batches when the event is set; requests already on the wire
finish (bounded by ``--timeout``) and are recorded; the run then exits 2. After a stop the handlers are not
restored: SIGTERM and SIGINT are ignored from the end of the run on, so a signal while the process writes its
summary and shuts down cannot kill it either. Only the main
thread can install handlers: elsewhere (a Dagster op in a worker thread) the event is never set by a signal.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger(__name__)


class StopSignals:
    """Context manager: ``event`` is set by the first SIGTERM/SIGINT; ``name`` says which signal came first."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.name: str | None = None
        self.count = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._request_stop)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.name is not None and self._previous:
            # stopping: the process is on its way out with exit 2; a signal now must not kill it (status 143)
            # before it has said so. Ignored at the C level: the interpreter resets Python-level handlers to
            # the default while it shuts down, and a signal then would still kill the process.
            for sig in self._previous:
                signal.signal(sig, signal.SIG_IGN)
            self._previous.clear()
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.name is None:
            self.name = name
            log.warning("received %s: finishing the requests in flight, recording them, then stopping", name,
                        extra={"event": "stop"})
        else:
            log.warning("received %s again: already stopping (requests in flight finish within --timeout)",
                        name, extra={"event": "stop_again"})
        self.event.set()
