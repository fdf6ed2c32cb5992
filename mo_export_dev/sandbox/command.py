"""The sandbox's command line, ``python -m mo_export_dev.sandbox`` (a development tool: the product's
``mo-export`` has no such command). Its defaults come from the sandbox's own contract."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mo_export_dev.sandbox import contract

DEFAULT_MAX_BYTES = contract.BYTES_PER_REQUEST
DEFAULT_OBJECT_NAME = contract.OBJECT
DEFAULT_OBJECT_NAMES = list(contract.DEFAULT_OBJECTS)
DEFAULT_SOLUTION_NAME = contract.SOLUTION
DOCUMENTED_RATE_LIMIT_RPS = contract.REQUESTS_PER_SECOND
LARGEST_ROWS_PER_REQUEST = contract.ROWS_PER_REQUEST_MOST

_RATE = click.FloatRange(0.0, 1.0)
_NON_NEGATIVE = click.FloatRange(min=0.0)


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback only).")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True, help="0 picks a free port.")
@click.option("--allow-remote", is_flag=True, help="Allow a --host that is not a loopback address.")
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SQLite file for stored rows [default: a fresh temporary file].")
@click.option("--token", envvar="PEAK_API_KEY", required=True, show_envvar=True,
              help="The token clients must send as the bare Authorization header (PEAK_API_KEY).")
@click.option("--readonly-token", "readonly_tokens", multiple=True, envvar="MO_SANDBOX_READONLY_TOKENS",
              show_envvar=True, help="A token that is refused with 403 (repeatable).")
@click.option("--object", "objects", multiple=True, default=DEFAULT_OBJECT_NAMES, show_default=True,
              help=f"An object name the API knows (repeatable); {contract.LOCATIONS_OBJECT} is served with the "
                   "Locations contract, any other with the manufacturing orders'.")
@click.option("--solution-name", default=DEFAULT_SOLUTION_NAME, show_default=True,
              help="The solutionName requests must carry ('' accepts any).")
@click.option("--prefix", default="", help="Path prefix before /api/v2/..., e.g. /ingestion-api.")
@click.option("--max-rows", type=click.IntRange(min=1), default=LARGEST_ROWS_PER_REQUEST, show_default=True,
              help="Rows one request may carry (newer guides: 2000; the resource page: 500).")
@click.option("--max-bytes", type=click.IntRange(min=1), default=DEFAULT_MAX_BYTES, show_default=True)
@click.option("--rate-limit", "rate_limit_rps", type=_NON_NEGATIVE, default=DOCUMENTED_RATE_LIMIT_RPS,
              show_default=True, help="Requests per second (0 = off).")
@click.option("--rate-burst", "rate_limit_burst", type=click.IntRange(min=1), default=None,
              help="Token-bucket size [default: one second's worth].")
@click.option("--latency-ms", type=_NON_NEGATIVE, default=0.0, show_default=True, help="Added to every request.")
@click.option("--error-rate", type=_RATE, default=0.0, show_default=True, help="Share answered 500/502/503.")
@click.option("--drop-rate", type=_RATE, default=0.0, show_default=True, help="Share of dropped connections.")
@click.option("--stall-rate", type=_RATE, default=0.0, show_default=True, help="Share that stall, then 504.")
@click.option("--stall-seconds", type=_NON_NEGATIVE, default=30.0, show_default=True)
@click.option("--fail-after-store-rate", type=_RATE, default=0.0, show_default=True,
              help="Share stored, then answered 5xx or dropped.")
@click.option("--burst-429-rate", type=_RATE, default=0.0, show_default=True,
              help="Chance per request of opening a window in which every request gets 429.")
@click.option("--burst-429-seconds", type=_NON_NEGATIVE, default=5.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault RNG.")
@click.option("--refuse-order-number", "refused_order_numbers", multiple=True,
              help="Refuse rows with this order number (DI_E_00012), as the API refuses rows for its own reasons.")
@click.option("--schema-endpoint/--no-schema-endpoint", default=True, show_default=True,
              help="Serve GET /api/v2/schema/solutions[/<solution>/tables] (off: 404, as on a tenant without it).")
@click.option("--schema-type", "schema_types", multiple=True, metavar="COLUMN=TYPE",
              help="Describe COLUMN with another type than the contract's in the schema endpoint (repeatable).")
def sandbox_command(readonly_tokens: tuple[str, ...], objects: tuple[str, ...], solution_name: str,
                    refused_order_numbers: tuple[str, ...], schema_types: tuple[str, ...],
                    **settings: object) -> None:
    """Run a local Peak-compatible ingestion API; prints 'sandbox ready at URL' once it answers."""
    from mo_export_dev.sandbox.config import SandboxConfig, SandboxConfigError
    from mo_export_dev.sandbox.process import READY_LINE
    from mo_export_dev.sandbox.server import serve

    pairs = []
    for item in schema_types:
        column, sep, api_type = item.partition("=")
        if not sep or not column or not api_type:
            raise click.BadParameter(f"{item!r} is not COLUMN=TYPE", param_hint="--schema-type")
        pairs.append((column, api_type))
    try:
        config = SandboxConfig(readonly_tokens=frozenset(readonly_tokens), objects=frozenset(objects),
                               solution_name=solution_name or None, schema_types=tuple(pairs),
                               refused_order_numbers=frozenset(refused_order_numbers),
                               workers=_workers_from_env(),
                               **settings)  # type: ignore[arg-type]
        serve(config, on_ready=lambda url: click.echo(READY_LINE.format(url=url)))
    except SandboxConfigError as exc:
        raise _SettingRefused(str(exc)) from exc


class _SettingRefused(click.ClickException):
    """A setting the sandbox refuses: exit 3, as the exporter's configuration errors."""

    exit_code = 3


#: Processes that parse and validate request bodies beside the event loop (SandboxConfig.workers). An
#: environment variable rather than a flag for now: docs/sandbox.md's option table lists every flag.
WORKERS_ENV = "MO_SANDBOX_WORKERS"


def _workers_from_env() -> int:
    text = os.environ.get(WORKERS_ENV, "").strip() or "0"
    try:
        return int(text)
    except ValueError:
        raise _SettingRefused(f"{WORKERS_ENV} must be a whole number, got {text!r}") from None
