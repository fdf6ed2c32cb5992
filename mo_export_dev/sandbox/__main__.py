"""`python -m mo_export_dev.sandbox [options]`: the sandbox API in the foreground (docs/sandbox.md).

start_sandbox_process uses this entry point; it imports nothing outside mo_export_dev.sandbox.
"""

import logging
import sys

from mo_export_dev.sandbox.command import sandbox_command

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
try:
    sandbox_command.main(prog_name="python -m mo_export_dev.sandbox")
except KeyboardInterrupt:
    sys.exit(130)
