"""The lint set-up (`make lint`): sqlfluff renders the models as the DuckDB target does, and the
owner every model carries in its meta is the project's owner."""

from pathlib import Path

import yaml
from sqlfluff.core import FluffConfig, Linter

ROOT = Path(__file__).resolve().parent.parent


def _render(sql: str) -> str:
    config = FluffConfig.from_path(str(ROOT / "models"))
    rendered = Linter(config=config).render_string(sql, str(ROOT / "models" / "probe.sql"), config, "utf-8")
    return rendered.templated_variants[0].templated_str


def test_sqlfluff_renders_dispatched_macros_with_their_duckdb_variant() -> None:
    sql = _render("select {{ star_except(['row_rank']) }}, {{ wide_integer_type() }} from t\n")
    assert "* exclude (row_rank)" in sql
    assert "hugeint" in sql
    assert "except" not in sql


def test_sqlfluff_lints_the_incremental_branch_of_an_incremental_model() -> None:
    sql = _render("{% if is_incremental() %}select * from {{ this }}{% else %}select 1{% endif %}\n")
    assert sql.strip().startswith("select * from ") and "select 1" not in sql


def test_every_model_owner_is_the_default_owner_email() -> None:
    project = yaml.safe_load((ROOT / "dbt_project.yml").read_text())
    owner = project["models"]["mo_export"]["+meta"]["owner"]
    assert owner == project["vars"]["owner_email"] == "mo-export-owners@example.com"
