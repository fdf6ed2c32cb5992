"""Find the contract model's relation in dbt's artifacts, never by a hard-coded table name.

`dbt build` writes `target/manifest.json` (what the project defines) and `target/run_results.json` (how the
last invocation went). The exporter reads the relation of `peak_manufacturing_orders` from the manifest and
refuses to export when the build is missing, failed, or left the model unbuilt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from exporter.errors import BuildError

PACKAGE_NAME = "mo_export"


@dataclass(frozen=True)
class ModelRelation:
    unique_id: str
    database: str
    schema: str
    identifier: str
    contract_enforced: bool

    @property
    def qualified_name(self) -> str:
        """``schema.identifier`` quoted, resolved in the database the exporter opened."""
        return f'"{self.schema}"."{self.identifier}"'


def resolve_model(target_path: Path, model_name: str) -> ModelRelation:
    """The relation dbt built for ``model_name``, checked against the last run's results."""
    manifest_path = target_path / "manifest.json"
    manifest = _read_json(manifest_path, what="manifest")
    unique_id = f"model.{PACKAGE_NAME}.{model_name}"
    node = manifest.get("nodes", {}).get(unique_id)
    if node is None:
        candidates = [k for k, v in manifest.get("nodes", {}).items() if v.get("name") == model_name]
        if len(candidates) != 1:
            raise BuildError(
                f"model {model_name!r} is not in {manifest_path}: is --project-dir / --target-path pointing at "
                "this project's dbt target? Run `dbt build` first."
            )
        unique_id = candidates[0]
        node = manifest["nodes"][unique_id]
    relation = ModelRelation(
        unique_id=unique_id,
        database=str(node.get("database") or ""),
        schema=str(node["schema"]),
        identifier=str(node.get("alias") or node["name"]),
        contract_enforced=bool((node.get("config") or {}).get("contract", {}).get("enforced")),
    )
    tests_on_model = {
        test_id
        for test_id, test in manifest.get("nodes", {}).items()
        if test.get("resource_type") == "test" and unique_id in (test.get("depends_on") or {}).get("nodes", [])
    }
    _check_last_build(target_path / "run_results.json", unique_id, tests_on_model)
    return relation


def _check_last_build(run_results_path: Path, unique_id: str, tests_on_model: set[str]) -> None:
    """A failed last build of the model (or of a test on it, in `dbt build`) must stop the export."""
    if not run_results_path.exists():
        return  # `dbt parse`/`dbt compile` only: the table check that follows catches a missing build
    results = _read_json(run_results_path, what="run results")
    for result in results.get("results", []):
        if result.get("unique_id") == unique_id and result.get("status") not in ("success", None):
            raise BuildError(
                f"the last dbt invocation reported {result.get('status')!r} for {unique_id} "
                f"({(result.get('message') or '').strip()[:200]}). Fix it and run `dbt build` before exporting."
            )
    failing_tests = [
        r["unique_id"]
        for r in results.get("results", [])
        if r.get("unique_id") in tests_on_model and r.get("status") in ("fail", "error")
    ]
    if failing_tests:
        raise BuildError(
            f"data tests on {unique_id} failed in the last dbt build ({', '.join(failing_tests[:3])}): "
            "the contract model may hold bad rows. Fix the data and run `dbt build` before exporting."
        )


def _read_json(path: Path, *, what: str) -> dict[str, Any]:
    if not path.exists():
        raise BuildError(
            f"no dbt {what} at {path}: run `dbt build` first (or point --target-path / MO_DBT_TARGET_PATH at "
            "the target directory it wrote)"
        )
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise BuildError(f"dbt {what} {path} is not valid JSON ({exc}): run `dbt build` again") from None
    if not isinstance(data, dict):
        raise BuildError(f"dbt {what} {path} is not a JSON object: run `dbt build` again")
    return data
