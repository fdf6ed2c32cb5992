"""Each Peak object's contract, read from the dbt project: a model and its yml define an object.

A model is an exported object when its config carries ``meta.peak``::

    config:
      contract: {enforced: true}
      meta:
        peak:
          object_name: INV_LOCATIONS_OOTB          # the destination object
          primary_key: [location_id, updated_at]   # the API's key, in the API's order
          version_column: updated_at               # optional: the key column that tells versions apart
          references:                              # optional: parents that must be acknowledged first
            - {column: location_id, model: peak_locations, parent_column: location_id,
               require: {is_factory: true}}
            - {column: product_id, model: int_product_master, parent_column: product_id,
               check: present, optional: true}    # present in a model the job does not send; skipped
                                                   # while that model is disabled (not in the manifest)

The attributes are the model's columns in the yml's order, each typed by its ``data_type`` (string, bigint,
timestamp, boolean) and required when it has a ``not_null`` constraint. Everything is read from dbt's
``manifest.json`` (which ``dbt parse`` or ``dbt build`` writes), so adding an object is a model and a yml.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from exporter.contract import ApiType, Attribute, ObjectContract, Reference
from exporter.dbt_artifacts import node_of, read_manifest
from exporter.errors import BuildError, ConfigError
from exporter.settings import ExportSettings

#: an object's parents as the decision needs them: each parent's contract with the parent's settings
Parents = tuple[tuple[ObjectContract, ExportSettings], ...]

#: what a model or column name of an exported object may be: it is written into SQL, paths and schema names
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
#: the columns the export adds beside an object's attributes (fingerprints, payload, destination)
_RESERVED = frozenset({"key_hash", "content_hash", "order_hash", "row_json", "row_bytes", "destination_id",
                       "held_by", "model_row", "parent"})
#: what an object name may hold (as PEAK_OBJECT_NAME): it is part of the request's URL
_OBJECT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
#: a ``require`` value's Python type for each API type
_REQUIRE_TYPES: dict[str, type] = {"boolean": bool, "integer": int, "string": str}
#: a dbt ``data_type`` (lower case, as written in the yml) -> the API type it carries
_API_TYPES: dict[str, ApiType] = {
    "string": "string", "varchar": "string", "text": "string",
    "bigint": "integer", "integer": "integer", "int": "integer",
    "timestamp": "timestamp",
    "boolean": "boolean", "bool": "boolean",
}


def load_contracts(target_path: Path) -> tuple[ObjectContract, ...]:
    """Every exported object of the project, parents before the objects that reference them (ties by model
    name), so a run that sends them in this order sends a parent before its children."""
    manifest = read_manifest(target_path)
    models = _enabled_models(manifest)
    found: dict[str, ObjectContract] = {}
    for node in models.values():
        if _peak_meta(node) is not None:
            contract = _contract_of(node, models)
            found[contract.model_name] = contract
    for contract in found.values():
        for reference in contract.references:
            if reference.check == "present":
                continue  # checked against the model's columns by _contract_of
            parent = found.get(reference.model)
            if parent is None:
                raise BuildError(
                    f"model {contract.model_name}: meta.peak.references names the model {reference.model!r}, "
                    f"which is not an exported object (no meta.peak) in {target_path / 'manifest.json'}"
                )
            wanted = [reference.parent_column, *(name for name, _ in reference.require)]
            missing = [c for c in wanted if c not in parent.attribute_names]
            if missing:
                raise BuildError(
                    f"model {contract.model_name}: meta.peak.references ({reference.describe()}) names "
                    f"{', '.join(missing)}, which {parent.model_name} does not hold"
                )
            for column, value in reference.require:
                api_type = parent.attribute(column).api_type
                expected = _REQUIRE_TYPES.get(api_type)
                if expected is None or type(value) is not expected:
                    raise BuildError(
                        f"model {contract.model_name}: meta.peak.references require {column}: {value!r} is not "
                        f"a {api_type} value ({parent.model_name}.{column} is {api_type})"
                    )
    return _parents_first(found)


def chosen_objects(settings: ExportSettings, contracts: tuple[ObjectContract, ...]) -> tuple[ObjectContract, ...]:
    """The objects a command works on: every one, or the one ``--object`` names (refused, naming the
    exported objects, when the project exports no such model)."""
    if settings.only_object is None:
        return contracts
    chosen = tuple(c for c in contracts if c.model_name == settings.only_object)
    if not chosen:
        known = ", ".join(c.model_name for c in contracts) or "none"
        raise ConfigError(f"--object {settings.only_object!r} is not an exported object of the dbt project (the "
                          f"models with meta.peak: {known})")
    return chosen


def parents_of(obj: ObjectContract, contracts: tuple[ObjectContract, ...], settings: ExportSettings) -> Parents:
    """The objects ``obj`` references, each with its settings (:meth:`ExportSettings.for_object`)."""
    wanted = {r.model for r in obj.references if r.check == "acknowledged"}
    return tuple((c, settings.for_object(c)) for c in contracts if c.model_name in wanted)


def one_object(settings: ExportSettings) -> tuple[ObjectContract, ExportSettings, Parents]:
    """For the commands about one object (plan, check, status): the object of ``--object``, else the main
    object (``--model-name``), with its settings and its parents'."""
    contracts = load_contracts(settings.target_path)
    if settings.only_object is not None:
        (contract,) = chosen_objects(settings, contracts)
    else:
        contract = next((c for c in contracts if c.model_name == settings.model_name), None) or contract_for(
            settings.target_path, settings.model_name)
    return contract, settings.for_object(contract), parents_of(contract, contracts, settings)


def contract_for(target_path: Path, model_name: str) -> ObjectContract:
    """The contract of the object ``model_name`` holds."""
    manifest = read_manifest(target_path)
    node = node_of(manifest, model_name, target_path)
    if _peak_meta(node) is None:
        raise BuildError(
            f"model {model_name!r} is not an exported object: its config has no meta.peak (object_name, "
            "primary_key) in dbt's manifest; see docs/behaviour.md#objects"
        )
    models = _enabled_models(manifest)
    return _contract_of(node, models)


def _enabled_models(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The manifest's models by name (a disabled model is not among its nodes)."""
    return {str(n["name"]): n for n in manifest.get("nodes", {}).values() if n.get("resource_type") == "model"}


def _peak_meta(node: dict[str, Any]) -> dict[str, Any] | None:
    meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
    peak = meta.get("peak")
    return peak if isinstance(peak, dict) else None


def _contract_of(node: dict[str, Any], models: dict[str, dict[str, Any]]) -> ObjectContract:
    """The contract ``node`` declares; ``models``: the manifest's enabled models by name (a ``check: present``
    reference to one of them must name its columns; an ``optional`` one to a disabled model is left out)."""
    name = str(node["name"])
    peak = _peak_meta(node) or {}

    def fail(problem: str) -> BuildError:
        return BuildError(f"model {name}: {problem}; fix its yml and run `dbt build` (or `dbt parse`)")

    if not _NAME.match(name):
        raise fail("an exported model's name must be lower-case letters, digits and '_'")

    attributes = []
    for column in (node.get("columns") or {}).values():
        data_type = str(column.get("data_type") or "").strip().lower()
        if data_type not in _API_TYPES:
            raise fail(f"column {column.get('name')} has data_type {data_type or 'none'!r}; an exported "
                       f"object's columns take one of {', '.join(sorted(_API_TYPES))}")
        required = any(c.get("type") == "not_null" for c in column.get("constraints") or [])
        column_name = str(column["name"])
        if not _NAME.match(column_name) or column_name in _RESERVED:
            raise fail(f"column {column_name!r}: an exported object's columns are lower-case letters, digits and "
                       f"'_', and none of {', '.join(sorted(_RESERVED))}")
        attributes.append(Attribute(column_name, _API_TYPES[data_type], required))
    if not attributes:
        raise fail("its yml declares no columns")
    names = [a.name for a in attributes]
    object_name = peak.get("object_name")
    if not isinstance(object_name, str) or not object_name:
        raise fail("meta.peak.object_name is missing")
    if not _OBJECT_NAME.match(object_name):
        raise fail(f"meta.peak.object_name {object_name!r} may hold only letters, digits, '_' and '-'")
    key = peak.get("primary_key")
    if not isinstance(key, list) or not key or any(k not in names for k in key):
        raise fail(f"meta.peak.primary_key must list columns of the model, is {key!r}")
    version = peak.get("version_column")
    if version is not None and version not in key:
        raise fail(f"meta.peak.version_column {version!r} is not a primary key column")
    references = []
    for entry in peak.get("references") or []:
        try:
            require = tuple((str(k), v) for k, v in (entry.get("require") or {}).items())
            check = str(entry.get("check") or "acknowledged")
            if check not in ("acknowledged", "present"):
                raise fail(f"meta.peak.references check {check!r} is neither acknowledged nor present")
            reference = Reference(str(entry["column"]), str(entry["model"]), str(entry["parent_column"]), require,
                                  check)  # type: ignore[arg-type]
        except (AttributeError, KeyError, TypeError):
            raise fail(f"meta.peak.references entry {entry!r} needs column, model and parent_column") from None
        if reference.column not in names:
            raise fail(f"meta.peak.references names the column {reference.column!r}, which the model lacks")
        if not next(a for a in attributes if a.name == reference.column).required:
            # a null would never match a parent: the row would be held for ever
            raise fail(f"meta.peak.references: the column {reference.column} needs a not_null constraint")
        if not _NAME.match(reference.model) or not _NAME.match(reference.parent_column) or any(
                not _NAME.match(n) for n, _ in reference.require):
            raise fail(f"meta.peak.references ({reference.describe()}): model and column names are lower-case "
                       "letters, digits and '_'")
        if reference.check == "present":
            parent = models.get(reference.model)
            if parent is None:
                if entry.get("optional"):
                    continue  # the model is disabled (its source is not declared): nothing to check against
                raise fail(f"meta.peak.references names the model {reference.model!r}, which is not in the manifest")
            wanted = [reference.parent_column, *(n for n, _ in reference.require)]
            missing = [c for c in wanted if c not in (parent.get("columns") or {})]
            if missing:
                raise fail(f"meta.peak.references ({reference.describe()}) names {', '.join(missing)}, which "
                           f"{reference.model}'s yml does not declare")
        references.append(reference)
    return ObjectContract(
        object_name=object_name,
        attributes=tuple(attributes),
        primary_key=tuple(str(k) for k in key),
        version_column=None if version is None else str(version),
        model_name=name,
        references=tuple(references),
    )


def _parents_first(found: dict[str, ObjectContract]) -> tuple[ObjectContract, ...]:
    ordered: list[ObjectContract] = []
    placing: set[str] = set()

    def place(contract: ObjectContract) -> None:
        if contract in ordered:
            return
        if contract.model_name in placing:
            raise BuildError(f"meta.peak.references of {contract.model_name} form a cycle: no object can go first")
        placing.add(contract.model_name)
        for reference in sorted(contract.references, key=lambda r: r.model):
            if reference.check == "acknowledged":
                place(found[reference.model])
        placing.discard(contract.model_name)
        ordered.append(contract)

    for model_name in sorted(found):
        place(found[model_name])
    return tuple(ordered)
