"""Logging for the command line: text or one JSON object per line on stderr.

Two rules hold for every line, whoever logged it:

* the token is masked, in every form a response can carry it (:class:`SecretMaskingFilter`, which uses
  :func:`exporter.masking.mask_secret`);
* text logs show control characters escaped (:func:`escape_controls`): a server's text quoted in a message
  or its arguments can neither start a line of its own (a forged ``SUCCESS``) nor colour or rewrite the
  terminal (ANSI escape sequences). JSON logs escape them through JSON. The CLI's last error line
  (:func:`say_error`) follows both rules.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime

import orjson

from exporter.masking import mask_secret

# C0 controls, DEL, C1 controls; the Unicode line and paragraph separators; the bidirectional overrides and
# isolates that reorder what a terminal shows ("Trojan Source")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character shown as an escape: ``\\n``, ``\\r``, ``\\t``, ``\\x1b``,
    ``\\x9b``, ``\\u2028``; anything else unchanged (text without one is returned as is).

    Covers C0 and C1 controls, DEL, the Unicode line/paragraph separators and the bidirectional controls.
    Backslashes are not doubled: the point is that server text stays on its line and cannot steer the
    terminal, not that it can be decoded back.
    """
    if not _CONTROLS.search(text):
        return text
    return _CONTROLS.sub(_escaped, text)


class TextFormatter(logging.Formatter):
    """``%(asctime)s %(levelname)s %(name)s: %(message)s`` with the message (the format string with its
    arguments filled in) escaped by :func:`escape_controls`.

    A traceback keeps its line breaks, every other control character in it is escaped.
    """

    def __init__(self, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
        super().__init__(fmt)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:
        return _CONTROLS_BUT_NEWLINE.sub(_escaped, super().formatException(ei))  # type: ignore[arg-type]

    def formatStack(self, stack_info: str) -> str:
        return _CONTROLS_BUT_NEWLINE.sub(_escaped, super().formatStack(stack_info))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with any ``extra={"event": ...}`` fields merged in."""

    _RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            payload["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


class SecretMaskingFilter(logging.Filter):
    """Replaces secrets in every record's final message, whoever logged it (httpcore debug included).

    The exporter never logs the token itself; this is the net under third-party loggers that might quote
    a header a server echoed back.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True

    def mask(self, text: str) -> str:
        """``text`` with every secret masked in each form a response can carry it (:mod:`exporter.masking`)."""
        for secret in self.secrets:
            text = mask_secret(text, secret)
        return text


_MASK = SecretMaskingFilter()


def mask_in_logs(secret: str) -> None:
    """From now on, every log line shows ``secret`` as ``********``."""
    if secret:
        _MASK.secrets.add(secret)


_json_lines = False


def json_lines() -> bool:
    """Whether stderr carries one JSON object per line (``--log-format json``)."""
    return _json_lines


def say_error(message: str, *, event: str = "error") -> None:
    """The CLI's last word on stderr: ``message`` as text, or as one JSON object under ``--log-format json``.

    Orchestrators that read stderr line by line as JSON must never meet a plain-text line, the last one
    included; secrets are masked either way, and control characters (a server's text in the error) are
    escaped: by JSON, or by :func:`escape_controls` in text, so the message stays one line.
    """
    message = _MASK.mask(message)
    if _json_lines:
        payload = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "error",
            "logger": "exporter.cli",
            "message": message,
            "event": event,
        }
        line = orjson.dumps(payload).decode()
    else:
        line = escape_controls(message)
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def configure_logging(*, log_format: str = "text", verbosity: int = 0) -> None:
    global _json_lines
    _json_lines = log_format == "json"
    level = logging.WARNING - 10 * min(verbosity, 2)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
        level = min(level, logging.INFO)
    else:
        handler.setFormatter(TextFormatter())
    handler.addFilter(_MASK)
    logging.captureWarnings(True)  # a Python warning becomes a log record, in the chosen format
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # third-party chatter stays out of the export's diagnostics unless asked for
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
