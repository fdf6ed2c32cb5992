"""Output paths (the run summary, a plan file): a path that is not a regular file is refused before the run
and never replaced at its end, ``-`` is stdout, and a file is replaced atomically.

These tests run as root in CI, where a rename over ``/dev/null`` succeeds: the tests that aim at it also
guard it (``os.replace`` onto it fails the test instead of happening) and check it is still a device.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import output_paths
from exporter.errors import EXIT_CONFIG_ERROR, OutputPathError
from exporter.output_paths import check_output_path, write_output

DEV_NULL = Path("/dev/null")


@pytest.fixture
def dev_null_guarded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``/dev/null``, with ``os.replace`` onto it turned into a test failure; still a device afterwards."""
    assert stat.S_ISCHR(os.stat(DEV_NULL).st_mode)
    real_replace = os.replace

    def guarded_replace(src: object, dst: object, **kwargs: object) -> None:
        if os.path.realpath(dst) == str(DEV_NULL):  # type: ignore[arg-type]
            raise AssertionError(f"os.replace({src!r}, {dst!r}) would replace the /dev/null device node")
        real_replace(src, dst, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(output_paths.os, "replace", guarded_replace)
    yield DEV_NULL
    assert stat.S_ISCHR(os.stat(DEV_NULL).st_mode), "/dev/null is no longer a character device"


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "results.fifo"
    os.mkfifo(path)
    return path


def _refusal(path: Path, label: str) -> str:
    with pytest.raises(OutputPathError) as caught:
        check_output_path(path, label)
    assert caught.value.exit_code == EXIT_CONFIG_ERROR == 3
    return str(caught.value)


# -- check_output_path ----------------------------------------------------------------------------------------------
def test_dev_null_is_refused_naming_the_option_and_the_path(dev_null_guarded: Path) -> None:
    message = _refusal(dev_null_guarded, "--results-path")
    assert message.startswith("--results-path /dev/null is a character device, not a regular file")
    assert "- for stdout" in message


def test_a_directory_is_refused(tmp_path: Path) -> None:
    message = _refusal(tmp_path, "plan --out")
    assert message.startswith(f"plan --out {tmp_path} is a directory, not a regular file")
    assert "a file name inside it" in message


def test_a_fifo_is_refused(fifo: Path) -> None:
    assert _refusal(fifo, "--results-path").startswith(f"--results-path {fifo} is a FIFO (named pipe)")


def test_a_socket_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a short relative name: socket paths are limited to ~100 bytes
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind("results.sock")
        assert "is a socket" in _refusal(Path("results.sock"), "--results-path")


def test_a_symbolic_link_to_a_device_is_refused(tmp_path: Path, dev_null_guarded: Path) -> None:
    link = tmp_path / "results.json"
    link.symlink_to(dev_null_guarded)
    assert _refusal(link, "--results-path").startswith(f"--results-path {link} is a character device")


def test_a_path_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    message = _refusal(tmp_path / "afile" / "results.json", "--results-path")
    assert f"({tmp_path / 'afile'} is not a writable directory)" in message


def test_stdout_a_new_file_in_missing_folders_and_an_existing_file_are_accepted(tmp_path: Path) -> None:
    existing = tmp_path / "results.json"
    existing.write_text("{}")
    for path in (Path("-"), tmp_path / "new" / "deeper" / "results.json", existing):
        check_output_path(path, "--results-path")
    assert not (tmp_path / "new").exists()  # checking creates nothing


# -- write_output ---------------------------------------------------------------------------------------------------
def test_writing_to_dev_null_leaves_the_device_alone(dev_null_guarded: Path) -> None:
    with pytest.raises(OutputPathError, match="is a character device, not a regular file: nothing was written"):
        write_output(dev_null_guarded, b'{"status": "ok"}')


def test_writing_to_a_fifo_or_a_directory_changes_neither(fifo: Path, tmp_path: Path) -> None:
    for path in (fifo, tmp_path):
        with pytest.raises(OutputPathError):
            write_output(path, b"{}")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.fifo"]  # no temporary file left either


def test_a_device_that_appears_after_the_check_is_not_replaced(tmp_path: Path) -> None:
    """The target is checked again at write time: here it became a FIFO between the check and the write."""
    path = tmp_path / "plan.json"
    check_output_path(path, "plan --out")
    os.mkfifo(path)
    with pytest.raises(OutputPathError, match="is a FIFO"):
        write_output(path, b"{}")
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_a_device_that_appears_while_the_file_is_written_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last check sits between the fsync and the rename."""
    path = tmp_path / "results.json"
    real_fsync = os.fsync

    def fsync_then_mkfifo(fd: int) -> None:
        real_fsync(fd)
        if not path.exists():
            os.mkfifo(path)

    monkeypatch.setattr(output_paths.os, "fsync", fsync_then_mkfifo)
    with pytest.raises(OutputPathError, match="is a FIFO"):
        write_output(path, b"{}")
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_dash_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    print("summary first", flush=False)
    write_output(Path("-"), b'{"status": "ok"}\n')
    assert capsys.readouterr().out == 'summary first\n{"status": "ok"}\n'


def test_a_regular_file_is_replaced_atomically_keeping_its_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "results.json"
    path.write_bytes(b'{"old": true}')
    os.chmod(path, 0o640)
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def recording_replace(src: str, dst: str) -> None:
        assert Path(path).read_bytes() == b'{"old": true}'  # until the rename, readers see the old file whole
        assert Path(src).read_bytes() == b'{"new": true}' and Path(src).parent == tmp_path
        replaced.append((Path(src).name, str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(output_paths.os, "replace", recording_replace)
    write_output(path, b'{"new": true}')
    assert path.read_bytes() == b'{"new": true}'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert len(replaced) == 1 and replaced[0][0].startswith(".results.json.") and replaced[0][1] == str(path)
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_new_file_is_created_with_its_folders(tmp_path: Path) -> None:
    path = tmp_path / "target" / "runs" / "results.json"
    write_output(path, b"{}")
    assert path.read_bytes() == b"{}"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_a_symbolic_link_stays_and_its_file_is_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_bytes(b"old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    write_output(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output_paths.os, "write", full_disk)
    path = tmp_path / "results.json"
    path.write_bytes(b"old")
    with pytest.raises(OSError, match="No space left"):
        write_output(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_full_disk_writing_the_results_file_names_that_file_not_the_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run maps machine faults once, for the whole run: the error still says which file could not be
    written, from the OSError's own filename."""
    import errno

    from exporter.errors import EXIT_DELIVERY_FAILED, DiskFullError
    from exporter.warehouse import mapped_faults

    results = tmp_path / "export_results.json"

    def full_disk(fd: int, data: object) -> int:  # as the kernel answers: an errno, no file name
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(DiskFullError) as fault, mapped_faults(tmp_path / "warehouse.duckdb"):
        write_output(results, b"{}")
    assert str(results) in str(fault.value) and "warehouse.duckdb" not in str(fault.value)
    assert fault.value.exit_code == EXIT_DELIVERY_FAILED
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary copy
