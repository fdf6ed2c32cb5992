"""The chaos run: export generated orders through every injected fault and repeated SIGKILLs, then prove
that nothing was lost, nothing extra was stored, and the exporter's state agrees with what the API holds.

    python -m tests.chaos --orders 200000 --kills 5 --early-kills 2   # `make chaos`; exit 1 if a check fails

Steps: generate N orders, `dbt build` in a subprocess, start the sandbox API in its own process with
500/502/503 errors, dropped connections, stalls longer than the exporter's timeout, 429 bursts with
Retry-After on top of its 50 requests/s limit, and failures after the rows were stored, all at once. Then
run `python -m exporter run` as a subprocess, SIGKILL it at seeded moments (after a drawn number of rows
reached the store, and ``terms`` times with SIGTERM instead, which must end the run with exit 2 within
``term_grace_seconds``; ``early_kills`` times a drawn 0.2-3 s after start, while it opens the DuckDB file,
replays its WAL and plans; and, with ``late_kill``, once the store holds every row, while the run commits
its last acknowledgements and compacts its state) and re-run it until a run exits 0; runs that give up
with exit 2 are re-run too.
Finally the sandbox's rows are compared with the contract model, rendered here in Python independently of
the exporter's SQL, and with the exporter's state (``mo_export_state.delivered``).

Every wait is bounded: a run that does not end within ``run_timeout_seconds`` is killed and fails the
check "no run hung"; after ``max_runs`` runs the loop gives up. Everything listens on 127.0.0.1.
``tests/test_chaos.py`` runs :func:`run_chaos` on a few thousand orders with a fixed seed.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from exporter.dbt_artifacts import resolve_model
from exporter.warehouse import connect
from mo_export_dev.sample_data import generate
from mo_export_dev.sandbox import SandboxConfig, SandboxProcess, start_sandbox_process
from tests.dbt_support import PROJECT_DIR, run_dbt_subprocess
from tests.reference_contract import ATTRIBUTES, CONTENT_HASH_SQL, KEY_HASH_SQL, PRIMARY_KEY, TIMESTAMP_FORMAT

log = logging.getLogger(__name__)

TOKEN = "pat-chaos-SECRET-51c2"
MODEL = "main.peak_manufacturing_orders"
STATE_SCHEMA = "mo_export_state"
FAULT_KINDS = ("error", "drop", "stall", "burst_429", "fail_after_store")
EXIT_KILLED = -signal.SIGKILL
#: Exit codes a run may end with here: success, a spent retry budget or our SIGTERM (re-run), our SIGKILL.
EXPECTED_EXIT_CODES = frozenset({0, 2, EXIT_KILLED})

Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class FaultMix:
    """Sandbox fault probabilities per request (see mo_export_dev.sandbox.faults). ``stall_seconds`` must exceed
    the exporter's timeout so a stall is seen as a timeout, not as a slow 504."""

    error_rate: float = 0.04
    drop_rate: float = 0.03
    stall_rate: float = 0.01
    stall_seconds: float = 2.5
    fail_after_store_rate: float = 0.03
    burst_429_rate: float = 0.01
    burst_429_seconds: float = 1.5


@dataclass(frozen=True)
class KillAt:
    """When to signal a run: once the sandbox stores ``rows`` rows, or ``seconds`` after the run started."""

    rows: int | None = None
    seconds: float | None = None
    signal: str = "SIGKILL"  # or "SIGTERM": a graceful stop

    def __str__(self) -> str:
        when = f"after {self.rows:,} rows stored" if self.rows is not None else f"at {self.seconds:.2f} s"
        return f"{self.signal} {when}"


@dataclass(frozen=True)
class ChaosConfig:
    orders: int
    seed: int
    work_dir: Path
    kills: int = 3
    #: graceful stops (SIGTERM) at further rows-stored thresholds; each must end the run with exit 2 in time
    terms: int = 1
    term_grace_seconds: float = 30.0
    early_kills: int = 1
    #: one more kill once every row is stored (counted when it lands; the run may finish first)
    late_kill: bool = True
    faults: FaultMix = field(default_factory=FaultMix)
    batch_size: int = 100
    concurrency: int = 8
    #: above the sandbox's 50 requests/s, and a small token bucket there, so its own limit answers 429 too
    max_rps: float = 60.0
    sandbox_rate_burst: int = 10
    timeout_seconds: float = 1.0
    max_attempts: int = 100
    retry_budget_seconds: float = 300.0
    max_runs: int = 30
    run_timeout_seconds: float = 600.0
    poll_seconds: float = 0.05

    def __post_init__(self) -> None:
        if self.faults.stall_seconds <= self.timeout_seconds:
            raise ValueError(
                f"stall_seconds ({self.faults.stall_seconds}) must exceed the exporter's timeout "
                f"({self.timeout_seconds}) or stalls never bite"
            )
        if self.kills < 1 or self.early_kills < 0 or self.terms < 0:
            raise ValueError(f"kills must be >= 1, early_kills and terms >= 0, got {self.kills}, "
                             f"{self.early_kills} and {self.terms}")
        if self.kills + self.early_kills + self.terms + 1 >= self.max_runs:
            raise ValueError(f"kills + early_kills + terms + 1 must be fewer than max_runs ({self.max_runs})")


@dataclass(frozen=True)
class RunRecord:
    """One `mo-export run` process: how it ended and how many rows the sandbox held afterwards."""

    number: int
    exit_code: int
    #: the planned signal that was sent (None: the run ended first, or it hung)
    kill: KillAt | None
    #: no end within run_timeout_seconds, or within term_grace_seconds of a SIGTERM: SIGKILLed
    hung: bool
    rows_stored_after: int
    #: from our signal to the process's end (None when no signal was sent)
    stop_seconds: float | None
    seconds: float


@dataclass
class ChaosResult:
    config: ChaosConfig
    model_rows: int = 0
    runs: list[RunRecord] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    @property
    def kills(self) -> int:
        return sum(1 for r in self.runs if r.kill is not None and r.kill.signal == "SIGKILL")

    @property
    def terms(self) -> int:
        return sum(1 for r in self.runs if r.kill is not None and r.kill.signal == "SIGTERM")

    @property
    def exit_codes(self) -> Counter[str]:
        return Counter("SIGKILL" if r.exit_code == EXIT_KILLED else str(r.exit_code) for r in self.runs)

    def render(self) -> str:
        c = self.config
        lines = [
            f"chaos run: {c.orders:,} orders, seed {c.seed}, kills: {c.kills} + {c.early_kills} early"
            f"{' + 1 late' if c.late_kill else ''}, {c.terms} SIGTERM; "
            f"batch size {c.batch_size}, concurrency {c.concurrency}, "
            f"max rps {c.max_rps:g} (sandbox 50, bucket {c.sandbox_rate_burst}), "
            f"client timeout {c.timeout_seconds:g} s",
            f"  faults: {_fault_text(c.faults)}",
            f"  contract model rows       {self.model_rows:>10,}",
            f"  runs                      {len(self.runs):>10,}",
            f"  kills (SIGKILL)           {self.kills:>10,}",
            f"  stops (SIGTERM)           {self.terms:>10,}",
            f"  exit codes seen           {_counter_text(self.exit_codes)}",
        ]
        for r in self.runs:
            how = "HUNG, killed" if r.hung else "SIGKILL" if r.exit_code == EXIT_KILLED else f"exit {r.exit_code}"
            target = f" ({r.kill}; ended {r.stop_seconds:.2f} s later)" if r.kill and r.stop_seconds is not None else ""
            lines.append(f"    run {r.number:>2}: {how:<12} {r.seconds:6.1f} s, "
                         f"{r.rows_stored_after:,} rows stored afterwards{target}")
        for name, value in self.figures.items():
            lines.append(f"  {name.replace('_', ' '):<26}{_figure_text(value)}")
        lines.append("  time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items()))
        lines.append("checks:")
        lines += [f"  {'PASS' if passed else 'FAIL'}  {name}" for name, passed in self.checks.items()]
        lines += [f"  problem: {p}" for p in self.problems]
        lines.append("chaos run " + ("PASSED" if self.ok else "FAILED"))
        return "\n".join(lines)


def run_chaos(config: ChaosConfig) -> ChaosResult:
    """Build, start the faulty sandbox, run/kill/re-run the exporter, then check and count everything."""
    result = ChaosResult(config)
    started = time.monotonic()
    work = config.work_dir
    work.mkdir(parents=True, exist_ok=True)
    duckdb_path, target_path = work / "warehouse.duckdb", work / "target"

    t0 = time.monotonic()
    generate(duckdb_path, orders=config.orders, seed=config.seed)
    result.timings["sample data"] = time.monotonic() - t0
    t0 = time.monotonic()
    build = run_dbt_subprocess(["build"], duckdb_path=duckdb_path, target_path=target_path)
    result.timings["dbt build"] = time.monotonic() - t0
    if build.returncode != 0:
        raise RuntimeError(f"dbt build failed with exit code {build.returncode}:\n{build.stdout[-3000:]}")
    model = model_rows(duckdb_path)
    result.model_rows = len(model)

    sandbox_config = SandboxConfig(
        token=TOKEN, store_path=work / "sandbox.sqlite", seed=config.seed,
        rate_limit_burst=config.sandbox_rate_burst, **vars(config.faults),
    )
    t0 = time.monotonic()
    with start_sandbox_process(sandbox_config, work / "sandbox.log") as sandbox:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PEAK_", "MO_"))}
        env = {
            **inherited,  # none of the caller's exporter settings: the flags and these below only
            "PEAK_API_KEY": TOKEN,
            "PEAK_BASE_URL": sandbox.base_url,
            "MO_DUCKDB_PATH": str(duckdb_path),
            "MO_DBT_TARGET_PATH": str(target_path),
        }
        rng = random.Random(config.seed)
        plan = kill_plan(len(model), config, rng)
        _run_until_success(config, sandbox, env, plan, result)
        result.timings["export runs"] = time.monotonic() - t0
        stats = sandbox.stats()
        stored, write_counts = stored_rows(sandbox.root_url)
    delivered = delivered_keys(duckdb_path)
    runs = state_runs(duckdb_path)
    pending = rows_the_exporter_would_send(duckdb_path, target_path)
    _check(result, model, stored, write_counts, delivered, pending, runs, stats)
    result.timings["total"] = time.monotonic() - started
    return result


def kill_plan(total_rows: int, config: ChaosConfig, rng: random.Random) -> list[KillAt]:
    """One signal moment per run to interrupt, in order.

    ``kills + terms`` rows-stored thresholds, increasing and spread over the export, each drawn from the
    middle of its own slice so that every run sends something first, ``terms`` of them (drawn) SIGTERM;
    ``early_kills`` kills 0.2-3 s after start, placed before the last threshold so rows are still pending
    when they happen; with ``late_kill`` a last one once the sandbox stores every row (the run is then
    committing, compacting and finishing).
    """
    slots = config.kills + config.terms
    graceful = set(rng.sample(range(slots), config.terms))
    plan = [
        KillAt(rows=int(total_rows * (i + rng.uniform(0.15, 0.85)) / (slots + 1)),
               signal="SIGTERM" if i in graceful else "SIGKILL")
        for i in range(slots)
    ]
    for _ in range(config.early_kills):
        plan.insert(rng.randrange(len(plan)), KillAt(seconds=rng.uniform(0.2, 3.0)))
    if config.late_kill:
        plan.append(KillAt(rows=total_rows))
    return plan


def _run_until_success(
    config: ChaosConfig, sandbox: SandboxProcess, env: dict[str, str], plan: list[KillAt], result: ChaosResult
) -> None:
    command = [
        sys.executable, "-m", "exporter", "--log-format", "json", "run", "--no-progress",
        "--project-dir", str(PROJECT_DIR),
        "--batch-size", str(config.batch_size), "--concurrency", str(config.concurrency),
        "--max-rps", repr(config.max_rps),
        "--timeout", repr(config.timeout_seconds), "--max-attempts", str(config.max_attempts),
        "--retry-budget", repr(config.retry_budget_seconds),
    ]
    logs = config.work_dir / "runs"
    logs.mkdir(exist_ok=True)
    pending = list(plan)
    for number in range(1, config.max_runs + 1):
        kill = pending[0] if pending else None
        record = _one_run(config, sandbox, command, env, logs / f"run-{number:02d}.log", number, kill)
        result.runs.append(record)
        log.info("run %d: %s", number, record)
        if record.kill is not None:
            pending.pop(0)
        if record.exit_code == 0:
            return  # done (if a kill was still due, the run outran it and the kill count says so)
        if record.exit_code not in EXPECTED_EXIT_CODES:
            return  # 1, 3 or 70: a re-run cannot fix it, and the checks say so
    result.problems.append(f"no run exited 0 within {config.max_runs} runs")


def _one_run(
    config: ChaosConfig,
    sandbox: SandboxProcess,
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    number: int,
    kill: KillAt | None,
) -> RunRecord:
    started = time.monotonic()
    deadline = started + config.run_timeout_seconds
    sent: KillAt | None = None
    hung = False
    signalled_at: float | None = None
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=config.work_dir)
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    hung = True
                    break
                if kill is not None and kill.seconds is not None and time.monotonic() - started >= kill.seconds:
                    break
                if kill is not None and kill.rows is not None and sandbox.stats()["rows_stored"] >= kill.rows:
                    break
                time.sleep(config.poll_seconds)
            if process.poll() is None and not hung and kill is not None and kill.signal == "SIGTERM":
                process.send_signal(signal.SIGTERM)
                sent, signalled_at = kill, time.monotonic()
                try:
                    process.wait(timeout=config.term_grace_seconds)
                except subprocess.TimeoutExpired:
                    hung = True
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                if sent is None and not hung:
                    sent, signalled_at = kill, time.monotonic()
            process.wait(timeout=30)
        finally:
            if process.poll() is None:  # an exception above: never leave the exporter behind
                process.kill()
                process.wait(timeout=30)
    ended = time.monotonic()
    return RunRecord(
        number=number,
        exit_code=process.returncode,
        kill=sent,
        hung=hung,
        rows_stored_after=int(sandbox.stats()["rows_stored"]),
        seconds=ended - started,
        stop_seconds=None if signalled_at is None else ended - signalled_at,
    )


# -- what each side holds -----------------------------------------------------------------------------------
def model_rows(duckdb_path: Path) -> dict[Key, bytes]:
    """The contract model rendered the way the API must receive it, in Python (not the exporter's SQL):
    timestamps as ``YYYY-MM-DD HH:MM:SS``, integers as ints, NULL as null; canonical JSON per key."""
    names = [a.name for a in ATTRIBUTES]
    con = connect(duckdb_path, read_only=True)
    try:
        rows = con.execute(f"select {', '.join(names)} from {MODEL}").fetchall()
    finally:
        con.close()
    out: dict[Key, bytes] = {}
    for values in rows:
        record = {a.name: _render(a.api_type, v) for a, v in zip(ATTRIBUTES, values, strict=True)}
        key = tuple(record[k] for k in PRIMARY_KEY)
        out[key] = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)  # type: ignore[index]
    return out


def _render(api_type: str, value: Any) -> Any:
    if value is None:
        return None
    if api_type == "timestamp":
        if not isinstance(value, datetime):
            raise TypeError(f"expected a timestamp, got {value!r}")
        return value.strftime(TIMESTAMP_FORMAT)
    if api_type == "integer":
        return int(value)
    return str(value)


def stored_rows(root_url: str) -> tuple[dict[Key, bytes], dict[Key, int]]:
    """Every row the sandbox stores (canonical JSON per key) and how often each key was written, read as
    a stream from ``/_sandbox/rows`` so 200,000 rows never sit in memory as dicts twice."""
    rows: dict[Key, bytes] = {}
    writes: dict[Key, int] = {}
    for record in _ndjson(f"{root_url}/_sandbox/rows"):
        key = tuple(record["key"])
        rows[key] = orjson.dumps(record["row"], option=orjson.OPT_SORT_KEYS)  # type: ignore[index]
        writes[key] = int(record["write_count"])  # type: ignore[index]
    return rows, writes


def _ndjson(url: str) -> Iterator[dict[str, Any]]:
    with httpx.Client(timeout=120) as http, http.stream("GET", url) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line:
                yield orjson.loads(line)


def delivered_keys(duckdb_path: Path) -> list[Key]:
    """The keys the exporter's state says were acknowledged (``delivered``), rendered like the API's key."""
    con = connect(duckdb_path, read_only=True)
    try:
        rows = con.execute(
            f"""select product_id, location_id, order_number, strftime(updated_at, '{TIMESTAMP_FORMAT}')
                from "{STATE_SCHEMA}".delivered"""
        ).fetchall()
    finally:
        con.close()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def state_runs(duckdb_path: Path) -> list[tuple[str, int | None]]:
    """(status, exit_code) of every run the exporter registered, oldest first."""
    con = connect(duckdb_path, read_only=True)
    try:
        rows = con.execute(f'select status, exit_code from "{STATE_SCHEMA}".runs order by started_at').fetchall()
    finally:
        con.close()
    return [(str(status), exit_code) for status, exit_code in rows]


def rows_the_exporter_would_send(duckdb_path: Path, target_path: Path) -> int:
    """How many model rows the ledger does not hold as acknowledged with their current content, for the one
    destination of the chaos run: computed here in SQL from the fingerprints, independently of the decision
    stage it checks."""
    relation = resolve_model(target_path, "peak_manufacturing_orders")
    con = connect(duckdb_path, read_only=True)
    try:
        (destination_id,) = [r[0] for r in con.execute(
            f'select destination_id from "{STATE_SCHEMA}".destinations').fetchall()]
        (pending,) = con.execute(
            f"""with model as (select {KEY_HASH_SQL} as key_hash, {CONTENT_HASH_SQL} as content_hash
                               from {relation.qualified_name}),
                     last as (select key_hash, arg_max(content_hash, event_id) as content_hash,
                                     arg_max(outcome, event_id) as outcome
                              from "{STATE_SCHEMA}".deliveries where destination_id = ? group by key_hash)
                select count(*) from model left join last using (key_hash)
                where last.key_hash is null or last.content_hash <> model.content_hash
                   or last.outcome <> 'acknowledged'""",
            [destination_id],
        ).fetchone()
    finally:
        con.close()
    return int(pending)


def _check(
    result: ChaosResult,
    model: dict[Key, bytes],
    stored: dict[Key, bytes],
    write_counts: dict[Key, int],
    delivered: list[Key],
    pending: int,
    runs: list[tuple[str, int | None]],
    stats: dict[str, Any],
) -> None:
    missing = model.keys() - stored.keys()
    extra = stored.keys() - model.keys()
    different = [k for k in model.keys() & stored.keys() if model[k] != stored[k]]
    delivered_set = set(delivered)
    faults = {kind: int(stats["faults"].get(kind, 0)) for kind in FAULT_KINDS}
    last_exit = result.runs[-1].exit_code if result.runs else None
    kills_due = result.config.kills + result.config.early_kills
    terms = [r for r in result.runs if r.kill is not None and r.kill.signal == "SIGTERM"]
    unexpected_exits = sorted({r.exit_code for r in result.runs} - EXPECTED_EXIT_CODES)

    result.figures.update(
        rows_stored=len(stored),
        rows_missing=len(missing),
        rows_extra=len(extra),
        rows_with_other_content=len(different),
        rows_re_sent=sum(1 for n in write_counts.values() if n > 1),
        row_writes=sum(write_counts.values()),
        state_delivered_keys=len(delivered),
        state_rows_to_send=pending,
        requests=int(stats["requests"]),
        requests_by_status=dict(stats["requests_by_status"]),
        faults_injected=faults,
        throttled_429=int(stats["throttled"]),
        rate_limit_429=int(stats["throttled"]) - faults["burst_429"],
        state_runs_by_status=dict(Counter(status for status, _ in runs)),
        late_kill_landed="yes" if any(r.kill is not None and r.kill.rows == len(model) for r in result.runs) else "no",
    )
    for label, keys in (("missing", missing), ("extra", extra), ("different", different)):
        if keys:
            result.problems.append(f"{len(keys)} rows {label}, e.g. {sorted(keys)[:3]}")
    result.checks.update({
        "last run exited 0": last_exit == 0,
        "no unexpected exit code (only 0, 2, SIGKILL)": not unexpected_exits,
        "no run hung": not any(r.hung for r in result.runs),
        f"at least {kills_due} kills": result.kills >= kills_due,
        f"{result.config.terms} SIGTERM stops, each ended by exit 2 (or 0) in time": len(terms) == result.config.terms
        and all(r.exit_code in (0, 2) and not r.hung for r in terms),
        "every model row stored": not missing,
        "nothing stored the model does not hold": not extra,
        "every stored row has the model's current content": not different,
        "state delivered keys == sandbox keys": delivered_set == stored.keys(),
        "state holds each key once": len(delivered) == len(delivered_set),
        "state runs: last is success with exit 0, none left running": bool(runs) and runs[-1] == ("success", 0)
        and all(status != "running" for status, _ in runs),
        "state content == model content (nothing left to send)": pending == 0,
        "every fault kind injected": all(faults.values()),
    })


def _figure_text(value: Any) -> str:
    if isinstance(value, dict):
        return _counter_text(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _counter_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0])))


def _fault_text(faults: FaultMix) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in vars(faults).items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs after a drawn number of rows stored")
    parser.add_argument("--terms", type=int, default=ChaosConfig.terms, help="graceful stops with SIGTERM")
    parser.add_argument("--early-kills", type=int, default=ChaosConfig.early_kills,
                        help="SIGKILLs a drawn 0.2-3 s after a run started")
    parser.add_argument("--no-late-kill", dest="late_kill", action="store_false",
                        help="no kill once every row is stored")
    parser.add_argument("--max-rps", type=float, default=ChaosConfig.max_rps, help="exporter --max-rps")
    parser.add_argument("--batch-size", type=int, default=ChaosConfig.batch_size)
    parser.add_argument("--concurrency", type=int, default=ChaosConfig.concurrency)
    parser.add_argument("--timeout", type=float, default=ChaosConfig.timeout_seconds, help="exporter --timeout")
    parser.add_argument("--max-attempts", type=int, default=ChaosConfig.max_attempts, help="exporter --max-attempts")
    parser.add_argument("--retry-budget", type=float, default=ChaosConfig.retry_budget_seconds,
                        help="exporter --retry-budget")
    parser.add_argument("--max-runs", type=int, default=ChaosConfig.max_runs)
    parser.add_argument("--run-timeout", type=float, default=ChaosConfig.run_timeout_seconds,
                        help="seconds before a run counts as hung")
    parser.add_argument("--work-dir", type=Path, help="keep the data, logs and stores here (default: a temp dir)")
    for name, default in vars(FaultMix()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=default)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    scratch = None
    work_dir = args.work_dir
    if work_dir is None:
        scratch = tempfile.mkdtemp(prefix="mo-chaos-")
        work_dir = Path(scratch)
    faults = FaultMix(**{name: getattr(args, name) for name in vars(FaultMix())})
    config = ChaosConfig(
        orders=args.orders, seed=args.seed, work_dir=work_dir, kills=args.kills, early_kills=args.early_kills,
        terms=args.terms,
        late_kill=args.late_kill, faults=faults, batch_size=args.batch_size, concurrency=args.concurrency,
        max_rps=args.max_rps,
        timeout_seconds=args.timeout, max_attempts=args.max_attempts, retry_budget_seconds=args.retry_budget,
        max_runs=args.max_runs, run_timeout_seconds=args.run_timeout,
    )
    try:
        result = run_chaos(config)
        print(result.render())
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
