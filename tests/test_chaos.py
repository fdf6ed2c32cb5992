"""The chaos run in small: a few thousand orders through every fault kind at once and three SIGKILLs.

The same code as `make chaos` (tests/chaos.py), seeded; the full version exports 200,000 orders.
Fault rates are higher than the full run's so that each kind happens several times in ~200 requests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import FAULT_KINDS, ChaosConfig, FaultMix, run_chaos

pytestmark = pytest.mark.slow

SMALL_FAULTS = FaultMix(
    error_rate=0.10,
    drop_rate=0.06,
    stall_rate=0.05,
    stall_seconds=1.5,
    fail_after_store_rate=0.06,
    burst_429_rate=0.03,
    burst_429_seconds=1.0,
)


def test_chaos_run_with_kills_and_every_fault_loses_nothing_and_state_agrees(tmp_path: Path) -> None:
    config = ChaosConfig(
        orders=3000, seed=20240611, work_dir=tmp_path, kills=3, faults=SMALL_FAULTS,
        batch_size=20, timeout_seconds=1.0, max_runs=12, run_timeout_seconds=90,
    )
    result = run_chaos(config)
    report = result.render()
    print(report)  # the figures, shown with -s or on failure

    assert result.ok, report
    assert result.kills >= 3
    assert result.terms == 1  # a graceful stop mid-run, which must exit 2 with its acknowledgements recorded
    assert result.runs[-1].exit_code == 0
    assert result.model_rows > 2800
    assert result.figures["rows_stored"] == result.model_rows == result.figures["state_delivered_keys"]
    assert result.figures["rows_missing"] == result.figures["rows_extra"] == 0
    assert result.figures["rows_with_other_content"] == 0
    assert result.figures["state_rows_to_send"] == 0
    assert all(result.figures["faults_injected"][kind] > 0 for kind in FAULT_KINDS), report
    # a fault after the store, or a kill with batches in flight, makes the client send rows again
    assert result.figures["rows_re_sent"] > 0
    by_status = result.figures["requests_by_status"]
    assert by_status.get("429", 0) > 0 and by_status.get("dropped", 0) > 0
    assert sum(by_status.get(s, 0) for s in ("500", "502", "503")) > 0
