"""Find the contract model's relation in dbt's artifacts, never by a hard-coded table name.

dbt writes `target/manifest.json` (what the project defines). The exporter reads the relation of
`peak_manufacturing_orders` and the data tests on it from there. Whether the model's last build and those
tests passed is not read from `target/run_results.json`, which any later dbt command rewrites, but from the
DuckDB file itself (:mod:`exporter.build_verdict`).
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
    #: unique ids of the data tests on the model (those that depend on it), from the manifest
    tests: frozenset[str] = frozenset()

    @property
    def qualified_name(self) -> str:
        """``schema.identifier`` quoted, resolved in the database the exporter opened."""
        return f'"{self.schema}"."{self.identifier}"'


def read_manifest(target_path: Path) -> dict[str, Any]:
    """dbt's ``manifest.json`` in ``target_path``, parsed."""
    return _read_json(target_path / "manifest.json", what="manifest")


def node_of(manifest: dict[str, Any], model_name: str, target_path: Path) -> dict[str, Any]:
    """The manifest's node of the model ``model_name`` (this package's, else the one model of that name)."""
    node = manifest.get("nodes", {}).get(f"model.{PACKAGE_NAME}.{model_name}")
    if node is not None:
        return dict(node)
    candidates = [v for v in manifest.get("nodes", {}).values()
                  if v.get("name") == model_name and v.get("resource_type") == "model"]
    if len(candidates) != 1:
        raise BuildError(
            f"model {model_name!r} is not in {target_path / 'manifest.json'}: is --project-dir / --target-path "
            "pointing at this project's dbt target? Run `dbt build` first."
        )
    return dict(candidates[0])


def resolve_model(target_path: Path, model_name: str) -> ModelRelation:
    """The relation dbt built for ``model_name``, checked against the last run's results."""
    manifest = read_manifest(target_path)
    node = node_of(manifest, model_name, target_path)
    unique_id = str(node.get("unique_id") or f"model.{PACKAGE_NAME}.{model_name}")
    tests_on_model = frozenset(
        test_id
        for test_id, test in manifest.get("nodes", {}).items()
        if test.get("resource_type") == "test" and unique_id in (test.get("depends_on") or {}).get("nodes", [])
    )
    return ModelRelation(
        unique_id=unique_id,
        database=str(node.get("database") or ""),
        schema=str(node["schema"]),
        identifier=str(node.get("alias") or node["name"]),
        contract_enforced=bool((node.get("config") or {}).get("contract", {}).get("enforced")),
        tests=tests_on_model,
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
