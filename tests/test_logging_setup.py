"""Text logs and the CLI's last error line show a server's control characters escaped, and mask the token.

A server's text reaches logs through the exporter's own messages (a rejection reason as an argument) and
through third-party loggers; it must neither start a line of its own (a forged ``SUCCESS``) nor colour or
rewrite the terminal. JSON logs escape it through JSON.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import orjson
import pytest

from exporter import logging_setup
from exporter.logging_setup import configure_logging, escape_controls, mask_in_logs, say_error

TOKEN = "pat-e2e-SECRET-7f3a9c"
FORGED = "bad row\n2026-12-03 07:00:00,000 INFO exporter.runner: SUCCESS: all 296 rows acknowledged"
COLOURED = "\x1b[32mok\x1b[0m \x1b[2K\r\x9b31m"


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test configures logging its way; the root logger, the format and the masked secrets come back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setattr(logging_setup, "_json_lines", False)
    monkeypatch.setattr(logging_setup._MASK, "secrets", set())
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_escape_controls_names_each_control_character_and_keeps_the_rest() -> None:
    assert escape_controls("a\nb\r\tc\x1b[32md\x00\x7f\x85\x9b\u2028\u202ee") == (
        "a\\nb\\r\\tc\\x1b[32md\\x00\\x7f\\x85\\x9b\\u2028\\u202ee"
    )
    text = "plain text, ünïcödé, a \\n already escaped, 100%"
    assert escape_controls(text) is text


def test_a_forged_success_line_in_a_message_argument_stays_on_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="text", verbosity=0)
    logging.getLogger("exporter.runner").warning("row rejected: %s", FORGED)
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.endswith("WARNING exporter.runner: row rejected: bad row\\n2026-12-03 07:00:00,000 INFO "
                        "exporter.runner: SUCCESS: all 296 rows acknowledged\n")


def test_ansi_sequences_in_a_message_are_shown_not_obeyed(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="text", verbosity=0)
    logging.getLogger("httpcore.http11").warning(f"server said {COLOURED}")  # in the message, not an argument
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\r" not in err and "\x9b" not in err
    assert "server said \\x1b[32mok\\x1b[0m \\x1b[2K\\r\\x9b31m\n" in err


def test_json_logs_carry_the_server_text_exactly_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="json", verbosity=0)
    logging.getLogger("exporter.runner").warning("row rejected: %s", FORGED + COLOURED)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert orjson.loads(lines[0])["message"] == f"row rejected: {FORGED}{COLOURED}"


def test_a_traceback_keeps_its_lines_but_escapes_terminal_sequences(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="text", verbosity=0)
    try:
        raise ValueError(f"server said {COLOURED}")
    except ValueError:
        logging.getLogger("exporter.cli").error("internal error", exc_info=True)
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):\n" in err
    assert "ValueError: server said \\x1b[32mok\\x1b[0m \\x1b[2K\\r\\x9b31m" in err
    assert "\x1b" not in err


def test_the_last_error_line_is_one_escaped_line_in_text_and_exact_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="text", verbosity=0)
    say_error(f"error: the API refused the request: {FORGED}{COLOURED}")
    err = capsys.readouterr().err
    assert err == f"error: the API refused the request: {escape_controls(FORGED + COLOURED)}\n"
    assert err.count("\n") == 1 and "\x1b" not in err
    configure_logging(log_format="json", verbosity=0)
    say_error(f"error: {FORGED}")
    assert orjson.loads(capsys.readouterr().err)["message"] == f"error: {FORGED}"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_token_is_masked_in_log_lines_in_its_encoded_forms_too(
    log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(log_format=log_format, verbosity=0)
    mask_in_logs(TOKEN)
    basic = base64.b64encode(f"user:{TOKEN}".encode()).decode()
    logging.getLogger("someone.else").warning("echo %s | %s | %s\n%s", TOKEN.upper(), TOKEN[:-3],
                                              "".join(f"&#{ord(c)};" for c in TOKEN), f"Basic {basic}")
    say_error(f"error: {TOKEN.lower()}")
    err = capsys.readouterr().err
    assert "SECRET" not in err.upper() and basic not in err
    if log_format == "text":
        assert "echo ******** | ******** | ********\\nBasic ********\n" in err
        assert err.endswith("error: ********\n")
