"""`mo-export sandbox`: the sandbox's own command (:mod:`exporter.sandbox.command`), added to the exporter's
CLI; the sandbox package defines it so that ``python -m exporter.sandbox`` needs nothing of the exporter."""

from exporter.sandbox.command import sandbox_command

__all__ = ["sandbox_command"]
