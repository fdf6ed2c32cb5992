"""`make demo` (scripts/demo.sh) end to end on a small sample: it works in its own folder only."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.dbt_support import PROJECT_DIR

pytestmark = pytest.mark.slow


def test_demo_leaves_the_users_duckdb_file_alone_and_shows_warnings_and_every_rejection_code(tmp_path: Path) -> None:
    users_file = tmp_path / "mes.duckdb"
    users_file.write_bytes(b"the user's warehouse, not a demo" * 1000)
    before = hashlib.sha256(users_file.read_bytes()).hexdigest()
    demo_dir = tmp_path / "demo"
    env = {**os.environ, "MO_DUCKDB_PATH": str(users_file), "DEMO_ORDERS": "800", "DEMO_DIR": str(demo_dir),
           "PEAK_API_KEY": "a-real-token-that-must-not-travel"}

    done = subprocess.run(["bash", str(PROJECT_DIR / "scripts" / "demo.sh")], env=env, capture_output=True,
                          text=True, timeout=600, check=False)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert hashlib.sha256(users_file.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "mes.duckdb"]
    out = done.stdout
    assert f"MO_DUCKDB_PATH={users_file} is left alone: the demo works in its own file, {demo_dir}/demo.duckdb" in out
    assert re.search(r"\d+ of \d+ PASS unique_peak_manufacturing_orders_order_number", out)  # dbt is not --quiet
    listed = set(re.findall(r"^\s+\d+\s+([a-z_]+)$", out.split("== 3/6")[1].split("== 4/6")[0], re.MULTILINE))
    with duckdb.connect(str(demo_dir / "demo.duckdb"), read_only=True) as con:
        occurred = {code for (code,) in con.sql(
            "select distinct unnest(string_split(rejection_reasons, ',')) from main.peak_manufacturing_orders_rejected"
        ).fetchall()}
    assert listed == occurred
    assert len(occurred) >= 10
    assert "export again: nothing changed" in out and "a-real-token" not in out + done.stderr
    # the status at the end counts against the sandbox it exported to, not the default destination
    status = r"destination: http://127\.0\.0\.1:\d+/api/v2/ingest/object/\S+ .*\n.*pending \(new or changed\) 0;"
    assert re.search(status, out)
