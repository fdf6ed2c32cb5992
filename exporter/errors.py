"""Every exception the exporter raises on purpose, and the exit code each one maps to.

An error names the problem and what to do about it; the CLI prints that message (never a traceback) and
exits with the class's ``exit_code``. Whether re-running can help is a type, not a number to compare:

* :class:`TransientError` (exit ``2``): the API or the machine failed for now (unreachable, the retry
  budget spent, no answer that proves delivery, stopped by a signal, the disk full, out of memory, the
  DuckDB file locked). Unacknowledged rows stay pending; re-run later. Schedulers may retry these.
* :class:`TerminalError` (exit ``3``): configuration, authentication, build, model values, the ledger,
  a plan file, the change guard, or a refusal of the request as a whole. Re-running the same thing gives
  the same answer: a person fixes the setting, token, build or file first.
* Any other :class:`ExportError` and anything unexpected: exit ``70``, a bug.

Exit ``0`` is success (every row to send acknowledged, or nothing to send) and ``1`` a finished run in
which the API rejected some rows (recorded with the API's reasons): neither is an exception.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REJECTED_ROWS = 1
EXIT_DELIVERY_FAILED = 2
EXIT_CONFIG_ERROR = 3
EXIT_INTERNAL_ERROR = 70


class ExportError(Exception):
    """Base class: an error with a user-facing message and an exit code."""

    exit_code = EXIT_INTERNAL_ERROR

    @property
    def retryable(self) -> bool:
        """Whether the same run may succeed later without a person changing anything."""
        return isinstance(self, TransientError)


class TransientError(ExportError):
    """The API or the machine failed for now: rows stay pending, a later run may succeed (exit 2)."""

    exit_code = EXIT_DELIVERY_FAILED


class TerminalError(ExportError):
    """Re-running cannot help until a person fixes something (exit 3)."""

    exit_code = EXIT_CONFIG_ERROR


# -- terminal -------------------------------------------------------------------------------------------------
class ConfigError(TerminalError):
    """A setting is missing, malformed or out of range."""


class BuildError(ConfigError):
    """The dbt build the exporter needs is missing, stale, failed, or does not match the contract."""


class WarehouseError(ConfigError):
    """The DuckDB file cannot be opened or queried (missing, corrupted, another DuckDB version)."""


class StateError(ConfigError):
    """The export ledger is unusable (corrupted, wrong shape)."""


class AuthError(ConfigError):
    """The API refused the credentials or the object (401, 403, 404)."""


class ReadOnlyError(ConfigError):
    """The DuckDB file, its write-ahead log or their folder cannot be written."""


class OutputPathError(ConfigError):
    """An output path (results, plan file) exists and is not a regular file, or cannot be written."""


class PlanFileError(ConfigError):
    """A reviewed plan file does not match what the run would send now; nothing was sent."""


class LargeChangeError(ConfigError):
    """The change guard refused an unexpectedly large change set; nothing was sent."""


class RequestRefusedError(ConfigError):
    """The API (or something in front of it) refused the request as a whole, not its rows: rows stay pending."""


# -- transient ------------------------------------------------------------------------------------------------
class DeliveryError(TransientError):
    """Batches could not be delivered: API unreachable, no proof of delivery, or the retry budget is spent."""


class StoppedError(TransientError):
    """SIGTERM/SIGINT stopped the run; what was acknowledged is recorded, the rest stays pending."""


class WarehouseBusyError(TransientError):
    """Another process holds the DuckDB file (a `dbt build`, another export): re-run later."""


class DiskFullError(TransientError):
    """No space left (or the file-size limit reached) while writing the DuckDB file or the results."""


class OutOfMemoryError(TransientError):
    """DuckDB could not stay within its memory limit even spilling to its temp directory: raise the limit
    (``MO_EXPORT_MEMORY_LIMIT``) or free memory or disk, then re-run."""
