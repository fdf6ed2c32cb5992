"""Dagster code location: `dbt build` as assets, then the export to the ingestion API, one asset per object.

Load it with ``dagster dev -f orchestration/dagster/definitions.py`` or materialize everything with
``dagster asset materialize -f orchestration/dagster/definitions.py --select '*'``.

* Every dbt model is an asset and every dbt test an asset check (dagster-dbt). One step runs ``dbt build``;
  if any model or test fails, that step fails and the exports downstream of it are skipped.
* One export asset per exported object (the models with ``meta.peak``, read from the parsed manifest):
  ``peak_locations_export`` downstream of ``peak_locations``, and ``peak_ingestion_api_export`` (the
  manufacturing orders, the name it always had) downstream of ``peak_manufacturing_orders`` and of the
  export of every object it references: the orders go after the locations they need.
* dagster-dbt gives each dbt invocation a target folder of its own. The dbt step records that folder on
  the materialization of every exported model; each export reads it back, so it checks and exports
  exactly what that invocation built (``manifest.json`` and ``run_results.json`` of the same run).
* The export reads the same environment variables as ``mo-export run`` (``PEAK_API_KEY``,
  ``PEAK_BASE_URL``, ``MO_DUCKDB_PATH``, ...), through ``exporter.settings``.
* A run's config (``ExportRunConfig``) carries the one-off decisions ``mo-export run`` takes as flags:
  ``new_tenant`` and ``token_rotated``, for the run after a person decided the destination beside a known
  one is meant (docs/behaviour.md, the change guard). Both default to false, so a schedule never makes them.
* Outcomes: exit 0 is a materialization with the run's counts; exit 1 a materialization and a failing
  asset check listing the rejection codes. Anything else is a Dagster failure, and whether it is retried
  under the asset's RetryPolicy is the error's type (``exporter.errors``), not a number: a
  ``TransientError`` (exit 2: the API unreachable, the budget spent, stopped) may succeed later and is
  retried; a ``TerminalError`` (exit 3: a setting, the token, the build) and anything else (exit 70, a
  bug) need a person and are not. A run that ends with a summary rather than an exception carries the
  same typed error as its ``failure``.

Each export runs in-process (``exporter.pipeline.run_export``) rather than as a ``mo-export`` subprocess: the
settings are validated by the same code before anything starts, the run's summary arrives as an object
(its counts become metadata without parsing output), and no second interpreter has to import DuckDB and
pyarrow. It runs in a worker thread of its own, so the exporter never installs its SIGTERM/SIGINT handlers
(it only does so in the main thread) and Dagster's own interrupt handling stays in charge: a terminated
Dagster run stops the export like a kill, which the exporter is built to survive (the next run sends only
what was not acknowledged).

No ``from __future__ import annotations`` here: Dagster reads the context annotations at definition time.
"""

import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Backoff,
    Config,
    Definitions,
    Failure,
    Jitter,
    MaterializeResult,
    MetadataValue,
    Output,
    RetryPolicy,
    asset,
)
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets, get_asset_key_for_model
from dagster_dbt.dbt_project import using_dagster_dev

from exporter import errors
from exporter.contract import ObjectContract
from exporter.logging_setup import mask_in_logs
from exporter.object_contracts import load_contracts, parents_of
from exporter.pipeline import run_export
from exporter.report import RunSummary
from exporter.settings import DEFAULT_MODEL_NAME, ExportSettings, duckdb_path_from_environment, load_settings

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[2]
#: dagster-dbt parses the project into this folder to learn the asset graph; runs use folders of their own.
PARSE_TARGET = "target/dagster"
#: metadata key, on each exported model's materialization, of the dbt invocation's target folder
TARGET_PATH_METADATA = "dbt_target_path"
EXPORT_CHECK = "api_accepted_every_row"
#: exit code 2 (API unreachable, retry budget spent, stopped): try again later, only pending rows are sent
EXPORT_RETRY_POLICY = RetryPolicy(max_retries=3, delay=60, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

dbt_project = DbtProject(project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR, target_path=PARSE_TARGET)


def _dbt_executable() -> str:
    """The dbt of this interpreter's environment, also when that environment's bin/ is not on PATH."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


dbt_resource = DbtCliResource(project_dir=dbt_project, dbt_executable=_dbt_executable())


def _manifest_is_stale(project: DbtProject) -> bool:
    """True when the parsed manifest is missing or older than any file dbt reads to build it."""
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    inputs = [PROJECT_DIR / "dbt_project.yml"]
    for folder in ("models", "macros", "data-tests"):
        inputs += [p for p in (PROJECT_DIR / folder).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > built for p in inputs)


# `dbt parse` gives dagster-dbt the asset graph. dagster-dbt's own preparer looks for dbt on PATH only,
# so parse here with this environment's dbt: under `dagster dev` on every load, elsewhere when stale.
if using_dagster_dev() or _manifest_is_stale(dbt_project):
    dbt_resource.cli(["parse", "--quiet"], target_path=Path(PARSE_TARGET), raise_on_error=True).wait()


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project)
def mo_export_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """`dbt build`: models, unit tests and data tests; each test result is an asset check."""
    # the op's context: dagster-dbt reads the op's tags from what it is given, and AssetExecutionContext.op
    # is deprecated (one DeprecationWarning per tag, on every run)
    invocation = dbt.cli(["build"], context=context.op_execution_context)
    exported = {get_asset_key_for_model([mo_export_dbt_assets], c.model_name) for c in EXPORTED}
    for event in invocation.stream():
        if isinstance(event, Output) and context.asset_key_for_output(event.output_name) in exported:
            event = event.with_metadata(
                {**event.metadata, TARGET_PATH_METADATA: MetadataValue.path(str(invocation.target_path))}
            )
        yield event


#: the exported objects, parents first, as the parsed project declares them (meta.peak)
EXPORTED: tuple[ObjectContract, ...] = load_contracts(PROJECT_DIR / PARSE_TARGET)


def export_key(contract: ObjectContract) -> AssetKey:
    """The export asset of an object: ``peak_ingestion_api_export`` for the orders (as before objects),
    ``<model>_export`` for any other."""
    return AssetKey("peak_ingestion_api_export" if contract.model_name == DEFAULT_MODEL_NAME
                    else f"{contract.model_name}_export")


class ExportRunConfig(Config):
    """What a person decides for one run, as ``mo-export run --new-tenant`` / ``--token-rotated`` do: set it in
    the launchpad's run config (``ops: {peak_ingestion_api_export: {config: {token_rotated: true}}}``)."""

    new_tenant: bool = False
    token_rotated: bool = False


def _export_asset(contract: ObjectContract) -> Any:
    """The export asset of one object, downstream of its model and of its parents' exports."""
    key = export_key(contract)
    upstream = get_asset_key_for_model([mo_export_dbt_assets], contract.model_name)
    parents = [export_key(c) for c in EXPORTED if c.model_name in {r.model for r in contract.references}]

    @asset(
        key=key,
        deps=[upstream, *parents],
        retry_policy=EXPORT_RETRY_POLICY,
        check_specs=[AssetCheckSpec(EXPORT_CHECK, asset=key,
                                    description="The ingestion API accepted every row the export sent.")],
        group_name="export",
        kinds={"python", "duckdb"},
        description=f"mo-export run --object {contract.model_name}: new and changed rows of "
                    f"{contract.object_name} to the Peak ingestion API (UPSERT)"
                    + (f"; rows whose {', '.join(r.column for r in contract.references)} is not acknowledged "
                       "are held" if contract.references else "") + ".",
    )
    def export(context: AssetExecutionContext, config: ExportRunConfig) -> MaterializeResult:
        target_path = _dbt_target_path(context, upstream)
        settings = _export_settings(target_path, config)
        contracts = load_contracts(target_path)  # this build's, which the parsed project's should equal
        this = next((c for c in contracts if c.model_name == contract.model_name), None)
        if this is None:
            raise _failure(errors.BuildError(f"{contract.model_name} is no longer an exported object in {target_path}"))
        object_settings = settings.for_object(this)
        context.log.info(f"exporting {this.model_name} to {object_settings.endpoint} from {settings.duckdb_path}, "
                         f"dbt artifacts {target_path}")
        summary = _run_in_worker_thread(object_settings, this, parents_of(this, contracts, settings))
        return _outcome(summary)

    return export


EXPORT_ASSETS = {contract.model_name: _export_asset(contract) for contract in EXPORTED}
#: the orders' export (the asset this code location always had)
peak_ingestion_api_export = EXPORT_ASSETS[DEFAULT_MODEL_NAME]
EXPORT_KEY = export_key(next(c for c in EXPORTED if c.model_name == DEFAULT_MODEL_NAME))


def _dbt_target_path(context: AssetExecutionContext, upstream: AssetKey) -> Path:
    """The target folder of the dbt invocation that last materialized the object's model."""
    event = context.instance.get_latest_materialization_event(upstream)
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    entry = metadata.get(TARGET_PATH_METADATA)
    if entry is None:
        raise _failure(errors.BuildError(
            f"no dbt build has materialized {upstream.to_user_string()} through this code location yet: "
            "materialize the dbt assets first (e.g. --select '*')"
        ))
    if event.run_id != context.run.run_id:
        context.log.info(f"using the dbt artifacts of run {event.run_id}")
    return Path(str(entry.value))


def _export_settings(target_path: Path, config: ExportRunConfig) -> ExportSettings:
    """The CLI's settings from the environment, with this run's dbt artifacts, the project's DuckDB file and
    the run config's decisions."""
    duckdb_path = duckdb_path_from_environment()
    if not duckdb_path.is_absolute():  # dbt resolves a relative MO_DUCKDB_PATH against the project directory
        duckdb_path = PROJECT_DIR / duckdb_path
    flags = {
        "project_dir": PROJECT_DIR,
        "target_path": target_path,
        "duckdb_path": duckdb_path,
        "show_progress": False,
        "new_tenant": config.new_tenant,
        "token_rotated": config.token_rotated,
    }
    try:
        settings = load_settings(flags)
    except errors.ExportError as exc:
        raise _failure(exc) from None
    if settings.api_key is not None:
        mask_in_logs(settings.api_key.reveal())
    return settings


def _run_in_worker_thread(settings: ExportSettings, contract: ObjectContract,
                          parents: tuple[tuple[ObjectContract, ExportSettings], ...] = ()) -> RunSummary:
    """``run_export`` outside the main thread (see the module docstring); exceptions become failures."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["summary"] = run_export(settings, contract, parents=parents)
        except BaseException as exc:  # handed to the asset's thread, which decides what it means
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="mo-export", daemon=True)
    worker.start()
    worker.join()
    exc = outcome.get("error")
    if isinstance(exc, errors.ExportError):
        raise _failure(exc) from None
    if exc is not None:
        log.error("internal error in the export", exc_info=exc)
        raise _failure(errors.ExportError(f"internal error ({type(exc).__name__}): {exc}")) from None
    return outcome["summary"]


def _outcome(summary: RunSummary) -> MaterializeResult:
    if summary.failure is not None:  # typed by the exporter: transient (retried) or terminal
        raise _failure(summary.failure, _counts(summary))
    code = summary.exit_code
    by_code = summary.counters.rejected_by_code
    check = AssetCheckResult(
        check_name=EXPORT_CHECK,
        passed=code == errors.EXIT_OK,
        severity=AssetCheckSeverity.WARN,
        description=(
            "every row sent was acknowledged" if code == errors.EXIT_OK else
            f"the API rejected {summary.counters.rejected:,} rows ({', '.join(sorted(by_code))}); "
            f"they are in {summary.settings.get('state_schema', 'mo_export_state')}.rejections"
        ),
        metadata={"rejected_rows": summary.counters.rejected,
                  "rejection_codes": MetadataValue.json(dict(sorted(by_code.items())))},
    )
    return MaterializeResult(metadata=_counts(summary), check_results=[check])


def _counts(summary: RunSummary) -> Mapping[str, Any]:
    data = summary.as_dict()
    rows = data["rows"]
    return {
        "run_id": summary.run_id,
        "exit_code": summary.exit_code,
        "status": summary.status,
        "endpoint": MetadataValue.url(summary.endpoint),
        "rows_considered": rows["considered"],
        "rows_unchanged": rows["unchanged"],
        "rows_to_send": rows["to_send"],
        "rows_sent": rows["sent"],
        "rows_acknowledged": rows["acknowledged"],
        "rows_rejected": rows["rejected"],
        "rows_pending": rows["pending"],
        "rows_held": rows["held"],
        "requests": data["http"]["requests"],
        "duration_seconds": data["duration_seconds"],
    }



def _failure(error: errors.ExportError, metadata: Mapping[str, Any] | None = None) -> Failure:
    """A Dagster failure, retried only when the error is transient (``error.retryable``)."""
    kind = "transient" if error.retryable else "terminal" if isinstance(error, errors.TerminalError) else "internal"
    return Failure(
        description=f"mo-export exit code {error.exit_code} ({kind}, {type(error).__name__}): {error}",
        metadata={**(metadata or {}), "exit_code": error.exit_code, "error_type": type(error).__name__,
                  "retryable": error.retryable},
        allow_retries=error.retryable,
    )


defs = Definitions(
    assets=[mo_export_dbt_assets, *EXPORT_ASSETS.values()],
    resources={"dbt": dbt_resource},
)
