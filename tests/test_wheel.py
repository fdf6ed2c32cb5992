"""The product's wheel holds the exporter only: no development tool (the sandbox API, the sample-data generator)
and no web server among the dependencies it declares. Built as any installer builds it, through the PEP 517
backend named in pyproject.toml (hatchling, installed by the dev group), so it runs offline."""

from __future__ import annotations

import ast
import email
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEB_SERVERS = {"starlette", "uvicorn", "fastapi", "flask", "gunicorn", "hypercorn", "aiohttp", "dagster-webserver"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    code = f"import hatchling.build as b; print(b.build_wheel({str(out)!r}))"
    built = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    name = built.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"mo_export-[0-9.]+-py3-none-any\.whl", name)
    return zipfile.ZipFile(out / name)


def _metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    (path,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return email.message_from_bytes(wheel.read(path))


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def test_the_wheel_holds_the_exporter_package_and_its_metadata_only(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/", 1)[0] for name in wheel.namelist()}

    assert tops == {"exporter", "mo_export-0.1.0.dist-info"}
    assert "exporter/cli/run.py" in wheel.namelist()
    assert [n for n in wheel.namelist() if "sandbox" in n or "sample_data" in n or "mo_export_dev" in n] == []


def test_no_module_of_the_wheel_imports_the_development_package(wheel: zipfile.ZipFile) -> None:
    offending = []
    for name in wheel.namelist():
        if not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(wheel.read(name), filename=name)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module]
            offending += [f"{name}:{node.lineno}: {m}" for m in modules if m.split(".")[0] == "mo_export_dev"]

    assert offending == []


def test_the_declared_dependencies_name_no_web_server(wheel: zipfile.ZipFile) -> None:
    requirements = _metadata(wheel).get_all("Requires-Dist") or []
    unconditional = {_requirement_name(r) for r in requirements if "extra ==" not in r}
    everywhere = {_requirement_name(r) for r in requirements}

    assert {"httpx", "duckdb", "dbt-core", "dbt-duckdb", "click"} <= unconditional
    assert unconditional & WEB_SERVERS == set()
    # the dagster extra's dagster-webserver (the orchestration UI) is the only web server, and only there
    assert everywhere & WEB_SERVERS <= {"dagster-webserver"}


def test_the_only_console_script_is_the_products_own(wheel: zipfile.ZipFile) -> None:
    (path,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    scripts = [line.strip() for line in wheel.read(path).decode().splitlines() if "=" in line]

    assert scripts == ["mo-export = exporter.cli:main"]


def test_the_product_cli_loads_no_development_module_when_every_command_is_registered() -> None:
    code = (
        "import sys\nfrom exporter.cli import _register_commands, cli\n_register_commands()\n"
        "print(sorted(cli.commands))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'mo_export_dev', 'starlette', 'uvicorn'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)

    commands, loaded = done.stdout.strip().splitlines()
    assert "'run'" in commands and "'sandbox'" not in commands and "'sample-data'" not in commands
    assert loaded == "[]"
