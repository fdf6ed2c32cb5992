"""The exporter's exceptions, and the exit code each one maps to.

Every error the exporter raises on purpose derives from :class:`ExportError` and carries a message that
names the problem and what to do about it; the CLI prints that message (never a traceback) and exits with
the class's ``exit_code``:

* ``0``  success: every row acknowledged (or nothing to send)
* ``1``  finished, but the API rejected some rows (recorded in the rejections table)
* ``2``  delivery failed or a transient fault of the machine: API unreachable, retry budget exhausted, the
         disk full, the DuckDB file locked by another process; unacknowledged rows stay pending, re-run
* ``3``  configuration, authentication or input error: fix the setting, the token, the build, the model's
         values or a read-only file, then re-run
* ``70`` unexpected internal error (a bug): the message and a log line say where
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


class ConfigError(ExportError):
    """A setting is missing, malformed or out of range."""

    exit_code = EXIT_CONFIG_ERROR


class BuildError(ConfigError):
    """The dbt build the exporter needs is missing, stale or does not match the contract."""


class WarehouseError(ConfigError):
    """The DuckDB file cannot be opened or queried (missing, locked by another process, corrupted)."""


class StateError(ConfigError):
    """The exporter's state schema is unusable (corrupted, wrong shape) or held by another export."""


class AuthError(ConfigError):
    """The API refused the credentials or the object (401, 403, 404)."""


class DeliveryError(ExportError):
    """Batches could not be delivered: API unreachable or the retry budget is spent."""

    exit_code = EXIT_DELIVERY_FAILED


class WarehouseBusyError(ExportError):
    """Another process holds the DuckDB file (a `dbt build`, another export): transient, re-run later."""

    exit_code = EXIT_DELIVERY_FAILED


class DiskFullError(ExportError):
    """No space left (or the file-size limit reached) while writing the DuckDB file or the results."""

    exit_code = EXIT_DELIVERY_FAILED


class ReadOnlyError(ConfigError):
    """The DuckDB file, its write-ahead log or their folder cannot be written."""


class OutOfMemoryError(ExportError):
    """DuckDB could not stay within its memory limit (nor spill to its temp directory): raise the limit
    (``MO_EXPORT_MEMORY_LIMIT``) or free memory or disk, then re-run."""

    exit_code = EXIT_DELIVERY_FAILED
