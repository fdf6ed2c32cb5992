"""Logging for the command line: text or one JSON object per line on stderr."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

from exporter.masking import mask_secret


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
    included; secrets are masked either way.
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
        line = message
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
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_MASK)
    logging.captureWarnings(True)  # a Python warning becomes a log record, in the chosen format
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # third-party chatter stays out of the export's diagnostics unless asked for
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
