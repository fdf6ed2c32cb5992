"""The recorder thread of the delivery stage: groups, commit before count, failures, drain on exit."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pytest

from exporter import errors
from exporter.deliver import DeliveryResult, _Accountant, _GroupCommit, _Verdict
from exporter.ledger import BatchRecord
from exporter.outcomes import RowRejection
from exporter.progress import Progress


def verdict(seq: int, rows: int = 3, *, failure: errors.ExportError | None = None,
            rejected: Sequence[int] = ()) -> _Verdict:
    table = pa.table({"key_hash": pa.array(range(seq * 100, seq * 100 + rows), type=pa.uint64())})
    rejections = tuple(RowRejection(i, "BAD", "bad row") for i in rejected)
    return _Verdict([BatchRecord(table, rejections, f"req-{seq}", f"key-{seq}")], failure)


class Ledger:
    """Stands in for Ledger.record_batches: keeps each group, and what was counted when it was called."""

    def __init__(self, result: DeliveryResult, fail_on_call: int | None = None,
                 fault: BaseException | None = None) -> None:
        self.result = result
        self.groups: list[list[str | None]] = []
        self.counted_when_called: list[int] = []
        self.fail_on_call = fail_on_call
        self.fault = fault or errors.DiskFullError("no space left on the device")

    def __call__(self, records: Sequence[BatchRecord]) -> None:
        self.counted_when_called.append(self.result.counters.acknowledged)
        if self.fail_on_call == len(self.groups):
            self.groups.append([])
            raise self.fault
        self.groups.append([r.request_id for r in records])


def recorder(max_batches: int = 4, max_delay: float = 60.0, **ledger: object) -> tuple[
        _GroupCommit, Ledger, DeliveryResult]:
    result = DeliveryResult()
    ledger_ = Ledger(result, **ledger)  # type: ignore[arg-type]
    account = _Accountant(result, ledger_, Progress(total=0, enabled=False))
    return _GroupCommit(account, max_batches=max_batches, max_delay=max_delay), ledger_, result


def test_every_batch_handed_over_is_recorded_in_groups_before_it_is_counted() -> None:
    group, ledger, result = recorder(max_batches=4)
    with group:
        for seq in range(1, 11):
            group.add(verdict(seq))
    recorded = [request for g in ledger.groups for request in g]
    assert recorded == [f"req-{seq}" for seq in range(1, 11)]
    assert all(len(g) <= 4 for g in ledger.groups)
    # each group was written while the counters held only the groups before it
    assert ledger.counted_when_called == [3 * sum(len(g) for g in ledger.groups[:i]) for i in range(len(ledger.groups))]
    assert (result.counters.batches, result.counters.sent, result.counters.acknowledged) == (10, 30, 30)
    assert result.failure is None


def test_rows_the_api_failed_are_counted_rejected_not_acknowledged() -> None:
    group, _, result = recorder()
    with group:
        group.add(verdict(1, rows=5, rejected=[0, 3]))
    assert (result.counters.sent, result.counters.acknowledged, result.counters.rejected) == (5, 3, 2)
    assert result.counters.rejected_by_code == {"BAD": 2}


def test_a_failed_batch_stops_scheduling_at_once_and_is_recorded_with_what_it_answered() -> None:
    group, ledger, result = recorder(max_batches=32)
    failure = errors.DeliveryError("giving up on a batch after 5 failed attempts")
    with group:
        group.add(verdict(1))
        assert not group.stopping
        group.add(verdict(2, failure=failure))
        assert group.stopping  # before the recorder has written anything: the main thread stops now
    assert [r for g in ledger.groups for r in g] == ["req-1", "req-2"]
    assert result.failure is failure
    assert result.counters.acknowledged == 6


def test_a_fault_writing_the_ledger_ends_the_delivery_and_its_rows_are_not_counted() -> None:
    group, ledger, result = recorder(max_batches=2, fail_on_call=1)
    with group:
        for seq in range(1, 5):
            group.add(verdict(seq))
    assert isinstance(result.failure, errors.DiskFullError)
    assert group.stopping
    # the first group was committed and counted; the one that failed was not; the next still recorded
    assert ledger.groups[0] == ["req-1", "req-2"]
    assert result.counters.acknowledged == 3 * sum(len(g) for g in ledger.groups)


def test_leaving_the_recorder_writes_what_waits_without_waiting_for_the_group_delay() -> None:
    group, ledger, result = recorder(max_batches=32, max_delay=3600.0)
    with group:
        group.add(verdict(1))
        group.add(verdict(2))
    assert ledger.groups == [["req-1", "req-2"]]
    assert result.counters.batches == 2


def test_a_bug_in_the_recorder_is_raised_when_it_is_left() -> None:
    group, _, _ = recorder(max_batches=1, fail_on_call=0, fault=KeyError("a bug"))
    with pytest.raises(KeyError), group:
        group.add(verdict(1))
        group.add(verdict(2))  # returns once the recorder is gone: nothing waits for it forever
