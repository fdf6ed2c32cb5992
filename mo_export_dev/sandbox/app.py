"""The sandbox's ASGI application: Peak's ingestion endpoint and the ``/_sandbox/`` admin endpoints.

The order of checks on an ingestion request, once its body is read, is: injected faults and
throttling (what a gateway in front of the API would do), then ``Authorization`` (401/403), the
object name (404), the body size (413), the JSON and the envelope (400, or 404 for a solution name
other than the configured one: like an unknown object, that is a wrong address rather than a bad
batch, and a client must stop rather than split the batch), then the rows, one by one (``failed``).

The same paths serve every object the sandbox knows (manufacturing orders and Locations by default), each
judged against its own contract and stored under its own primary key; limits, rate limit and faults apply
per request, whatever the object.

The schema endpoints (:mod:`mo_export_dev.sandbox.schema`) answer GET with the token checked the same way
(a read-only token may read them); they are counted apart from ingestion requests.

Admin endpoints (loopback clients only): ``GET /_sandbox/stats``, ``GET /_sandbox/rows[?object=NAME|*]`` (the
manufacturing orders by default), ``GET /_sandbox/failed-rows`` (orders whose location is no stored factory,
computed when asked), ``GET``/``POST /_sandbox/faults`` and ``POST /_sandbox/reset``.

How it serves requests in parallel: the event loop (uvloop and httptools when installed) reads bodies and
keeps everything that is state (rate limit, fault RNG and burst window, counters, stored keys), so the seed
alone still decides which requests are faulted and ``/_sandbox/`` sees one sandbox; judging a body (JSON,
envelope, rows: :mod:`mo_export_dev.sandbox.ingest`, most of a request's CPU) runs in ``config.workers`` worker
processes when there are any (during the injected latency), and every store write on one thread of its
own, in order (SQLite releases the GIL while it writes).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import multiprocessing
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mo_export_dev.sandbox import contract, schema
from mo_export_dev.sandbox.config import SandboxConfig, SandboxConfigError, is_loopback
from mo_export_dev.sandbox.faults import STALL_STATUS, FaultInjector, FaultPlan, FaultSettings
from mo_export_dev.sandbox.ingest import Settings, Verdict, judge, warm_up
from mo_export_dev.sandbox.stats import SandboxStats
from mo_export_dev.sandbox.store import ALL_OBJECTS, ORDERS, RowStore
from mo_export_dev.sandbox.throttle import TokenBucket
from mo_export_dev.sandbox.validation import KEY_ALREADY_STORED, error, failed_rows

log = logging.getLogger("mo_export_dev.sandbox")
_T = TypeVar("_T")

INGEST_PATHS = contract.INGEST_PATHS
OPERATIONS = contract.OPERATIONS
#: A client that sends a too-large body gets its 413 after the body is read (so it sees the status,
#: not a broken pipe), unless the body goes on beyond this many times the limit.
_DRAIN_FACTOR = 16


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class InjectedConnectionDrop(Exception):
    """Raised after the response has started: the server then closes the connection mid-response."""


class DroppedConnection(Response):
    """Sends the status line and headers of a response that never gets its body, then aborts."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")]})
        raise InjectedConnectionDrop


class _HideInjectedDrops(logging.Filter):
    """Keeps the server's 'Exception in ASGI application' traceback out of the log for injected drops."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedConnectionDrop))


_drop_filter = _HideInjectedDrops()


def detail(status: int, message: str, headers: Mapping[str, str] | None = None) -> JsonResponse:
    return JsonResponse(contract.error_body(message), status_code=status, headers=headers)


@dataclass
class SandboxState:
    config: SandboxConfig
    store: RowStore
    faults: FaultInjector
    bucket: TokenBucket
    stats: SandboxStats = field(default_factory=SandboxStats)
    #: every store operation runs on this one thread, in the order asked: SQLite releases the GIL while it
    #: writes, so the event loop parses and validates the next request meanwhile
    writer: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-store")
    )

    #: with ``config.workers`` > 0, the processes that judge request bodies (None: the event loop does)
    pool: ProcessPoolExecutor | None = None

    @property
    def judge_settings(self) -> Settings:
        c = self.config
        return Settings(c.solution_name, c.max_rows, c.refused_order_numbers)

    async def judge(self, body: bytes, object_name: str) -> Verdict:
        obj = contract.object_contract(object_name)
        if self.pool is None:
            return judge(body, self.judge_settings, obj)
        return await asyncio.get_running_loop().run_in_executor(self.pool, judge, body, self.judge_settings, obj)

    async def in_store_thread(self, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.writer, partial(function, *args, **kwargs))


def open_state(config: SandboxConfig) -> SandboxState:
    store_path = config.store_path
    if store_path is None:
        store_path = Path(tempfile.mkdtemp(prefix="mo-sandbox-")) / "sandbox.sqlite"
        log.info("sandbox store: %s", store_path)
    return SandboxState(
        config=config,
        store=RowStore(store_path),
        faults=FaultInjector(FaultSettings.from_config(config), config.seed),
        bucket=TokenBucket(config.rate_limit_rps, config.effective_burst),
    )


def create_app(config: SandboxConfig) -> Starlette:
    """The sandbox as an ASGI app; its store is opened now and closed when the app shuts down."""
    state = open_state(config)
    logging.getLogger("uvicorn.error").addFilter(_drop_filter)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if config.workers:
            # spawn, not fork: this process already runs threads (the store's, the server's)
            state.pool = ProcessPoolExecutor(config.workers, mp_context=multiprocessing.get_context("spawn"))
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(state.pool, warm_up) for _ in range(config.workers)))
        try:
            yield
        finally:
            if state.pool is not None:
                state.pool.shutdown(wait=True, cancel_futures=True)
            state.writer.shutdown(wait=True)
            state.store.close()

    async def ingest(request: Request) -> Response:
        arrived = state.stats.request_arrived()
        object_name = request.path_params["object_name"]
        if object_name in config.objects:
            state.stats.count_object(object_name, requests=1)
        response = await _ingest(state, request, arrived)
        state.stats.count_response(None if isinstance(response, DroppedConnection) else response.status_code, arrived)
        return response

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return detail(status, message)

    async def solutions(request: Request) -> Response:
        return _schema(state, request, schema.solutions_document(config))

    async def tables(request: Request) -> Response:
        if request.path_params["solution_name"] != schema.served_solution(config):
            return detail(404, f"unknown solution '{request.path_params['solution_name']}'")
        return _schema(state, request, schema.tables_document(config))

    prefix = config.normalized_prefix
    routes = [Route(prefix + path, ingest, methods=["POST"]) for path in INGEST_PATHS]
    if config.schema_endpoint:
        routes += [
            Route(prefix + contract.SOLUTIONS_PATH, solutions, methods=["GET"]),
            Route(prefix + contract.TABLES_PATH, tables, methods=["GET"]),
        ]
    routes += [
        Route("/_sandbox/stats", _admin(state, _stats), methods=["GET"]),
        Route("/_sandbox/rows", _admin(state, _rows), methods=["GET"]),
        Route("/_sandbox/failed-rows", _admin(state, _failed_rows), methods=["GET"]),
        Route("/_sandbox/faults", _admin(state, _faults), methods=["GET", "POST"]),
        Route("/_sandbox/reset", _admin(state, _reset), methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: not_found})
    app.state.sandbox = state
    return app


async def _ingest(state: SandboxState, request: Request, arrived: float) -> Response:
    # The body is always read first (up to a bound), whatever the answer: a client still sending a
    # body to a server that has answered and closed sees a broken pipe instead of the answer.
    body = await _read_body(state.config, request)
    state.stats.body_seconds += time.monotonic() - arrived
    plan = state.faults.plan(time.monotonic())
    # With worker processes, judging the body (no side effect) starts now and runs during the injected
    # latency, as a real API works while the network delays: the answer still comes no sooner than the
    # latency, and only what follows the checks below (storing) is added to it.
    judging: asyncio.Future[Verdict] | None = None
    if state.pool is not None and plan.latency_s > 0 and not isinstance(body, Response):
        judging = asyncio.ensure_future(state.judge(body, request.path_params["object_name"]))
    try:
        return await _answer(state, request, body, plan, judging)
    finally:
        if judging is not None and not judging.done():
            judging.cancel()


async def _answer(state: SandboxState, request: Request, body: bytes | Response, plan: FaultPlan,
                  judging: asyncio.Future[Verdict] | None) -> Response:
    config = state.config
    early = await _faults_before_processing(state, plan)
    if early is not None:
        return early

    refused = _check_token(config, request.headers.get("authorization"))
    if refused is not None:
        return refused
    object_name = request.path_params["object_name"]
    if object_name not in config.objects:
        return detail(404, f"unknown object '{object_name}'; this API knows {', '.join(sorted(config.objects))}")

    if isinstance(body, Response):
        return body
    verdict = await (judging if judging is not None else state.judge(body, object_name))
    state.stats.worker_cpu_seconds += verdict.cpu_seconds if state.pool is not None else 0.0
    if verdict.refusal is not None:
        return detail(*verdict.refusal)

    request_id = str(uuid.uuid4())
    errors = verdict.errors
    if verdict.operation == "UPSERT" and verdict.keys:
        await state.in_store_thread(state.store.upsert_judged, object_name, verdict.keys,
                                    verdict.payload or body, verdict.payload is None, request_id)
    elif verdict.valid_rows:
        valid_indexes = [i for i in range(verdict.rows) if i not in errors]
        for position in await state.in_store_thread(state.store.append, object_name, verdict.valid_rows,
                                                    request_id):
            errors[valid_indexes[position]] = [
                error(KEY_ALREADY_STORED, contract.object_contract(object_name).key_column,
                      "APPEND: a row with this primary key is already stored")
            ]
    failed = failed_rows(errors)
    accepted = verdict.rows - len(failed)
    state.stats.rows_accepted += accepted
    state.stats.rows_failed += len(failed)
    state.stats.count_object(object_name, rows_accepted=accepted, rows_failed=len(failed))

    if plan.after_store is not None:
        state.stats.faults["fail_after_store"] += 1
        if plan.after_store == "drop":
            return DroppedConnection()
        return detail(plan.after_store_status, "injected failure after the rows were stored")
    return JsonResponse(contract.success_body(request_id, accepted, failed))


def _schema(state: SandboxState, request: Request, document: dict[str, Any]) -> Response:
    """A schema document for a caller with a valid token (read-only tokens may read it)."""
    header = request.headers.get("authorization")
    refused = _check_token(state.config, header)
    if refused is not None and not (header and header in state.config.readonly_tokens):
        state.stats.schema_reads[str(refused.status_code)] += 1
        return refused
    state.stats.schema_reads["200"] += 1
    return JsonResponse(document)


async def _faults_before_processing(state: SandboxState, plan: FaultPlan) -> Response | None:
    faults = state.stats.faults
    if plan.latency_s > 0:
        faults["latency"] += 1
        await asyncio.sleep(plan.latency_s)
    if plan.throttle_retry_after is not None:
        faults["burst_429"] += 1
        state.stats.throttled += 1
        return detail(429, "too many requests (injected throttling burst); retry after the delay",
                      headers={"Retry-After": str(plan.throttle_retry_after)})
    wait = state.bucket.take()
    if wait is not None:
        state.stats.throttled += 1
        return detail(429, f"rate limit of {state.bucket.rate:g} requests per second exceeded",
                      headers={"Retry-After": str(wait)})
    if plan.stall_s is not None:
        faults["stall"] += 1
        await asyncio.sleep(plan.stall_s)
        return detail(STALL_STATUS, "injected stall: the upstream did not answer in time")
    if plan.error_status is not None:
        faults["error"] += 1
        return detail(plan.error_status, "injected server error")
    if plan.drop:
        faults["drop"] += 1
        return DroppedConnection()
    return None


def _check_token(config: SandboxConfig, header: str | None) -> Response | None:
    """401/403 for a bad ``Authorization`` header; never repeats the token it was given."""
    if not header:
        return detail(401, "missing Authorization header: send your API token as its value")
    if header.lower().startswith("bearer "):
        return detail(401, "send the bare token as the Authorization header, without the 'Bearer ' prefix")
    given = header.encode()
    if hmac.compare_digest(given, config.token.encode()):
        return None
    if any(hmac.compare_digest(given, t.encode()) for t in config.readonly_tokens):
        return detail(403, "this token is read-only: it cannot write data")
    return detail(401, "invalid API token")


async def _read_body(config: SandboxConfig, request: Request) -> bytes | Response:
    limit = config.max_bytes
    too_large = detail(413, f"the body exceeds the limit of {limit} bytes")
    declared = request.headers.get("content-length")
    over = False
    if declared is not None:
        try:
            over = int(declared) > limit
        except ValueError:
            return detail(400, "the Content-Length header is not a number")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if over or size > limit:
            # keep reading (and dropping) so the client gets its 413 rather than a broken pipe
            over = True
            chunks.clear()
            if size > limit * _DRAIN_FACTOR:
                break
        else:
            chunks.append(chunk)
    return too_large if over else b"".join(chunks)


# ---- admin endpoints ----------------------------------------------------------------------------

def _admin(state: SandboxState, handler: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        client = request.client
        if client is None or not is_loopback(client.host):
            return detail(403, "the /_sandbox/ endpoints answer loopback clients only")
        result: Response = await handler(state, request)
        return result

    return endpoint


async def _stats(state: SandboxState, request: Request) -> Response:
    return JsonResponse(state.stats.snapshot(rows_stored=state.store.count(),
                                             stored_by_object=state.store.count_by_object(),
                                             object_names=tuple(state.config.objects)))


async def _rows(state: SandboxState, request: Request) -> Response:
    """NDJSON, one stored row a line: the manufacturing orders (every object but Locations), or with
    ``?object=NAME`` that object's rows, ``?object=*`` every object's."""
    wanted = request.query_params.get("object")
    objects: str | list[str] = ORDERS
    if wanted == ALL_OBJECTS:
        objects = ALL_OBJECTS
    elif wanted is not None:
        if wanted not in state.config.objects:
            return detail(404, f"unknown object '{wanted}'; this API knows {', '.join(sorted(state.config.objects))}")
        objects = [wanted]
    await state.in_store_thread(state.store.expand)
    return StreamingResponse(state.store.iter_records(objects), media_type="application/x-ndjson")


async def _failed_rows(state: SandboxState, request: Request) -> Response:
    """The platform's later foreign-key check, computed now from what is stored:
    ``{"failed_rows": [{"object_name", "key", "order_number", "location_id", "reason", "message",
    "location_updated_at"}], "count": N}``."""
    await state.in_store_thread(state.store.expand)
    rows = await asyncio.to_thread(state.store.failed_rows)
    return JsonResponse({"failed_rows": rows, "count": len(rows)})


async def _faults(state: SandboxState, request: Request) -> Response:
    if request.method == "POST":
        try:
            changes = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return detail(400, f"the body is not valid JSON: {exc}")
        if not isinstance(changes, dict):
            return detail(400, "the body must be a JSON object of fault settings")
        try:
            _apply_fault_changes(state, changes)
        except SandboxConfigError as exc:
            return detail(400, str(exc))
    return JsonResponse(_fault_view(state))


def _apply_fault_changes(state: SandboxState, changes: dict[str, Any]) -> None:
    """Fault settings plus ``seed`` (re-seeds the RNG), ``rate_limit_rps`` and ``rate_limit_burst``."""
    changes = dict(changes)
    seed = changes.pop("seed", None)
    rate_given = "rate_limit_rps" in changes
    rate = changes.pop("rate_limit_rps", state.bucket.rate)
    burst = changes.pop("rate_limit_burst", None)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise SandboxConfigError(f"sandbox: seed must be an integer, got {seed!r}")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
        raise SandboxConfigError(f"sandbox: rate_limit_rps must be a number >= 0 (0 = off), got {rate!r}")
    if burst is None:  # a new rate without a burst gets one second's worth, as at start
        burst = max(1, round(rate)) if rate_given else state.bucket.burst
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise SandboxConfigError(f"sandbox: rate_limit_burst must be an integer >= 1, got {burst!r}")
    settings = state.faults.settings.updated(changes)  # validates before anything changes
    state.faults.settings = settings
    if settings.burst_429_rate == 0:
        state.faults.end_burst()
    if seed is not None:
        state.faults.reseed(seed)
    state.bucket.configure(float(rate), burst)


def _fault_view(state: SandboxState) -> dict[str, Any]:
    return {**state.faults.settings.as_dict(), "rate_limit_rps": state.bucket.rate,
            "rate_limit_burst": state.bucket.burst}


async def _reset(state: SandboxState, request: Request) -> Response:
    """Empty the store and the counters and refill the rate limiter; fault settings stay as they are."""
    await state.in_store_thread(state.store.clear)
    state.stats = SandboxStats()
    state.bucket.configure(state.bucket.rate, state.bucket.burst)
    state.faults.end_burst()
    return JsonResponse({"reset": True})
