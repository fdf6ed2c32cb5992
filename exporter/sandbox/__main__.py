"""`python -m exporter.sandbox [options]`: the `mo-export sandbox` command on its own.

start_sandbox_process uses this entry point so the sandbox process imports only what it needs.
"""

import sys

import click

from exporter.cli.sandbox import sandbox_command
from exporter.errors import ExportError
from exporter.logging_setup import configure_logging

configure_logging()
try:
    sandbox_command.main(prog_name="python -m exporter.sandbox", standalone_mode=False)
except click.ClickException as exc:
    exc.show()
    sys.exit(exc.exit_code)
except ExportError as exc:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)
except KeyboardInterrupt:
    sys.exit(130)
