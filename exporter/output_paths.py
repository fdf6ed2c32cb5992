"""Files the exporter writes for the user (the run summary, a plan file): checked before the run, written
atomically, and never in place of something that is not a regular file.

* :func:`check_output_path` runs while the settings are read, before anything is sent: a path that exists
  and is not a regular file (``/dev/null`` or another device, a FIFO, a directory, a socket), or whose folder
  cannot be created or written, is an :class:`~exporter.errors.OutputPathError` (exit 3) naming the option
  and the path. ``-`` means stdout and is accepted.
* :func:`write_output` writes ``-`` to stdout, and a file atomically: a temporary file in the same folder,
  written, fsynced and renamed over the target (``os.replace``), so a reader sees the old file or the new
  one, never half of one. Just before the rename it checks the target again: a rename replaces whatever the
  name points at, so without that check ``--results-path /dev/null`` run as root replaced the device node
  with a JSON file. A symbolic link is followed: the file it points to is replaced, the link stays.

What remains: another process that creates a device node at the path between the last check and the
rename (microseconds) would still see it replaced; only a rename that refuses to replace could close that,
which Python does not offer portably.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
from pathlib import Path

from exporter.errors import OutputPathError

STDOUT = "-"

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def is_stdout(path: Path | str) -> bool:
    """Whether ``path`` is ``-``: the output goes to stdout."""
    return str(path) == STDOUT


def check_output_path(path: Path, label: str) -> None:
    """Refuse, now, an output path the run could not write at its end.

    Raises :class:`~exporter.errors.OutputPathError` naming ``label`` (e.g. ``--results-path``) and
    ``path`` when the path exists and is not a regular file, when a symbolic link at it points to something
    that is not one, or when the nearest existing folder above it is not a directory the exporter can write
    (the missing folders are created when the file is written). ``-`` (stdout) is accepted.
    """
    if is_stdout(path):
        return
    kind = _not_regular(path)
    if kind is not None:
        where = "a file name inside it" if kind == "a directory" else "the path of a regular file"
        raise OutputPathError(
            f"{label} {path} is {kind}, not a regular file: the exporter writes a JSON file there and will not "
            f"replace {kind}. Give {where}, or - for stdout"
        )
    target = Path(os.path.realpath(path))
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputPathError(f"{label} {path} cannot be written (permission denied): choose another path")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(
            f"{label} {path} cannot be written ({folder} is not a writable directory): choose another path"
        )


def write_output(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``: ``-`` to stdout, a file atomically (temp file, fsync, ``os.replace``).

    Raises :class:`~exporter.errors.OutputPathError` if the target is, by now, not a regular file (it is
    left as it is); any other failure (a full disk, permissions) is the ``OSError`` itself, with no
    temporary file left behind and ``path`` as its ``filename``, for the caller to map as it maps other OS
    faults. The folders are created; a new file gets the usual permissions (0666 less the umask), a
    replaced one keeps its mode.
    """
    if is_stdout(path):
        _write_stdout(data)
        return
    target = Path(os.path.realpath(path))  # a symbolic link stays; the file it points to is replaced
    _refuse_non_regular(path, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            with contextlib.suppress(OSError):  # keep the mode of the file replaced
                os.fchmod(fd, stat.S_IMODE(os.stat(target).st_mode))
            os.fsync(fd)
        finally:
            os.close(fd)
        _refuse_non_regular(path, target)  # again: the rename replaces whatever is there now
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError) and exc.filename is None:  # os.write names no file: say which one
            exc.filename = str(path)
        raise
    _fsync_folder(target.parent)


def _not_regular(path: Path) -> str | None:
    """What ``path`` (followed through symbolic links) is if it exists and is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        # not there yet (or a dangling link: the file it names is created), a file where a folder should be,
        # a folder that cannot be searched: the folder check (or the write) says what is wrong
        return None
    if stat.S_ISREG(mode):
        return None
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "not a regular file"


def _refuse_non_regular(path: Path, target: Path) -> None:
    for candidate in (target, path):
        kind = _not_regular(candidate)
        if kind is not None:
            raise OutputPathError(f"output {path} is {kind}, not a regular file: nothing was written to it")


def _write_stdout(data: bytes) -> None:
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(data)
        buffer.flush()
    else:  # a text-only stream (some embedding replaced sys.stdout)
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; best effort (not every file system can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
