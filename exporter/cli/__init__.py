"""`mo-export`: the command line. Parses arguments, builds objects, maps exceptions to exit codes.

Each sub-command lives in its own module of this package and holds no logic of its own. The development
tools (the sandbox API, the sample-data generator) are not commands of the product: they live in the repository's
development package, ``python -m mo_export_dev.sandbox`` and ``python -m mo_export_dev.sample_data``.
"""

from __future__ import annotations

import logging
import sys

import click

from exporter.errors import EXIT_CONFIG_ERROR, EXIT_INTERNAL_ERROR, ExportError
from exporter.logging_setup import configure_logging, json_lines, say_error
from exporter.malloc_tuning import return_large_frees_to_the_system

log = logging.getLogger("exporter")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="MO_LOG_FORMAT",
    help="Diagnostics on stderr as text or as one JSON object per line (for orchestrators).",
)
@click.option("-v", "--verbose", count=True, help="More diagnostics (-v info, -vv debug).")
def cli(log_format: str, verbose: int) -> None:
    """Shape MES manufacturing orders with dbt and deliver them to the Peak ingestion API."""
    configure_logging(log_format=log_format, verbosity=verbose)


def _register_commands() -> None:
    from exporter.cli.check import check_command
    from exporter.cli.plan import plan_command
    from exporter.cli.run import run_command
    from exporter.cli.status import status_command

    cli.add_command(run_command)
    cli.add_command(plan_command)
    cli.add_command(status_command)
    cli.add_command(check_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mo-export` console script; returns (and exits with) the documented exit code."""
    return_large_frees_to_the_system()  # the process is ours: see exporter/malloc_tuning.py
    _register_commands()
    try:
        result = cli.main(args=argv, prog_name="mo-export", standalone_mode=False)
    except click.exceptions.Abort:
        say_error("aborted", event="aborted")
        code = EXIT_CONFIG_ERROR
    except click.ClickException as exc:
        if json_lines():
            say_error(f"error: {exc.format_message()}", event="usage_error")
        else:
            exc.show()
        code = EXIT_CONFIG_ERROR
    except ExportError as exc:
        say_error(f"error: {exc}")
        code = exc.exit_code
    except KeyboardInterrupt:
        say_error("interrupted: acknowledged batches are saved; re-run to send the rest", event="interrupted")
        code = 130
    except Exception as exc:
        if log.isEnabledFor(logging.DEBUG):
            log.error("internal error", exc_info=True)
        say_error(f"internal error ({type(exc).__name__}): {exc}", event="internal_error")
        code = EXIT_INTERNAL_ERROR
    else:
        code = result if isinstance(result, int) else 0
    sys.exit(code)
