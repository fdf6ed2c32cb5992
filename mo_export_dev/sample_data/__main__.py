"""`python -m mo_export_dev.sample_data [options]`: write the sample raw MES tables (docs/sample-data.md).

Exits 0 once written; 3 for a bad option (an unknown flag, a raw schema name that is no identifier); an error
of the DuckDB file exits with the exporter's code for it (exporter/errors.py: 2 while another process holds the
file, 3 when it cannot be opened or written), its message naming the file.
"""

import sys

import click

from exporter.errors import EXIT_CONFIG_ERROR, ExportError
from mo_export_dev.sample_data.command import sample_data_command

try:
    sample_data_command.main(prog_name="python -m mo_export_dev.sample_data", standalone_mode=False)
except click.ClickException as exc:
    exc.show()
    sys.exit(EXIT_CONFIG_ERROR)
except click.exceptions.Abort:
    sys.exit(EXIT_CONFIG_ERROR)
except ValueError as exc:  # the generator's refusal of an option value
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_CONFIG_ERROR)
except ExportError as exc:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)
except KeyboardInterrupt:
    sys.exit(130)
