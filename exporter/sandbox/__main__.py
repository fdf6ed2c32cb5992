"""`python -m exporter.sandbox [options]`: the sandbox on its own, the same command as `mo-export sandbox`.

start_sandbox_process uses this entry point; it imports nothing of the exporter outside exporter.sandbox.
"""

import logging
import sys

from exporter.sandbox.command import sandbox_command

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
try:
    sandbox_command.main(prog_name="python -m exporter.sandbox")
except KeyboardInterrupt:
    sys.exit(130)
