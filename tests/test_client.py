"""The client's policy over real HTTP on 127.0.0.1: what is retried, waited out, refused, fatal, given up or
stopped. send() returns a BatchOutcome for every answer and every transport fault; it never raises."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from exporter import errors
from exporter.client import HttpStats, IngestionClient, RateLimiter, build_http_client
from exporter.outcomes import Acknowledged, Fatal, GaveUp, Refused, RequestIds, Stopped
from exporter.settings import load_settings
from tests.hostile_server import REDIRECT_TARGET, HostileServer, hostile_server

TOKEN = "pat-must-not-leak-42"
BODY = b'{"solutionName":"INV_OOTB","operationType":"UPSERT","data":[{},{},{}]}'
ENDPOINT = "/api/v2/ingest/object/INV_MANUFACTURING_ORDERS_OOTB"


@contextmanager
def client_for(mode: str, *script: str, stop: threading.Event | None = None, request_ids: RequestIds | None = None,
               **flags: object) -> Iterator[tuple[IngestionClient, HttpStats, HostileServer]]:
    stop = stop or threading.Event()
    with hostile_server(mode) as server:
        if script:
            server.set_script(*script)
        settings = load_settings({"base_url": server.base_url, "max_attempts": 4, "retry_budget_seconds": 30,
                                  "timeout_seconds": 3, **flags}, {"PEAK_API_KEY": TOKEN})
        stats = HttpStats()
        with build_http_client(settings) as http:
            client = IngestionClient(http, settings, RateLimiter(1000, stop), stats, request_ids or RequestIds(),
                                     stop=stop, rng=random.Random(3), backoff_base_seconds=0.01)
            yield client, stats, server


def test_sends_the_bare_token_and_json_to_the_object_endpoint_and_acknowledges() -> None:
    with client_for("ok") as (client, stats, server):
        outcome = client.send(BODY, 3)
        assert server.requests == {ENDPOINT: 1} and server.authorizations == [TOKEN]
    assert isinstance(outcome, Acknowledged) and outcome.rejections == () and outcome.request_id.startswith("hostile-")
    assert stats.by_status == {"200": 1}


def test_retries_5xx_and_dropped_connections_then_acknowledges() -> None:
    with client_for("ok", "status_503", "drop", "status_502") as (client, stats, _):
        outcome = client.send(BODY, 3)
    assert isinstance(outcome, Acknowledged)
    assert (stats.requests, stats.retries) == (4, 3)
    assert stats.by_status["503"] == stats.by_status["502"] == stats.by_status["200"] == 1


def test_a_429_is_waited_out_with_its_retry_after_and_is_not_a_failed_attempt() -> None:
    with client_for("ok", "throttled_briefly", "throttled_briefly", max_attempts=1) as (client, stats, _):
        began = time.monotonic()
        outcome = client.send(BODY, 3)
    assert isinstance(outcome, Acknowledged) and time.monotonic() - began >= 0.6
    assert (stats.throttled_waits, stats.retries) == (2, 0)


@pytest.mark.parametrize("mode", ["empty_object", "error_unauthorized", "detail_not_found", "status_queued",
                                  "null_counts", "html_200", "failed_too_long"])
def test_a_200_that_is_not_the_success_object_gives_up_and_never_acknowledges(mode: str) -> None:
    with client_for(mode, max_attempts=2) as (client, stats, _):
        outcome = client.send(BODY, 3)
    assert isinstance(outcome, GaveUp) and stats.requests == 2
    assert "giving up on a batch after 2 failed attempts" in outcome.reason
    assert "not the API's acknowledgement" in outcome.reason and "stay pending" in outcome.reason
    assert "127.0.0.1" in outcome.reason  # the URL it sent to, redacted


def test_a_caching_proxy_replaying_the_first_answer_acknowledges_only_the_first_batch() -> None:
    with client_for("replay_first", max_attempts=2) as (client, _, _server):
        first, second = client.send(BODY, 3), client.send(BODY, 3)
    assert isinstance(first, Acknowledged)
    assert isinstance(second, GaveUp)
    assert f"replayed answer: requestId '{first.request_id}' was acknowledged for another batch" in second.reason


def test_gives_up_when_the_retry_budget_would_be_passed() -> None:
    with client_for("retry_after_86400", retry_budget_seconds=5) as (client, stats, _):
        began = time.monotonic()
        outcome = client.send(BODY, 3)
    assert isinstance(outcome, GaveUp) and time.monotonic() - began < 1 and stats.requests == 1
    assert "retry budget of 5 s" in outcome.reason and "asked to wait 86400 s" in outcome.reason


def test_an_unreachable_api_gives_up_with_a_batch_outcome_not_an_exception() -> None:
    with hostile_server("ok") as server:
        base_url = server.base_url  # closed when the block ends: nothing listens there any more
    settings = load_settings({"base_url": base_url, "max_attempts": 2}, {"PEAK_API_KEY": TOKEN})
    with build_http_client(settings) as http:
        client = IngestionClient(http, settings, RateLimiter(1000), HttpStats(), RequestIds(),
                                 stop=threading.Event(), backoff_base_seconds=0.01)
        outcome = client.send(BODY, 3)
    assert isinstance(outcome, GaveUp) and "ConnectError" in outcome.reason


@pytest.mark.parametrize(("mode", "kind", "fragment"), [
    ("status_401", errors.AuthError, "PEAK_API_KEY"),
    ("status_404", errors.AuthError, "object name"),
    ("status_409", errors.ConfigError, "every row stays pending"),
    ("redirect_307", errors.ConfigError, "a redirect to http://127.0.0.1"),
])
def test_fatal_answers_are_returned_at_once_never_followed(mode: str, kind: type, fragment: str) -> None:
    with client_for(mode) as (client, stats, server):
        outcome = client.send(BODY, 3)
        requests = server.requests
    assert isinstance(outcome, Fatal) and isinstance(outcome.error, kind) and fragment in str(outcome.error)
    assert TOKEN not in str(outcome.error)
    assert stats.requests == 1 and REDIRECT_TARGET not in requests


def test_a_refusal_is_returned_with_the_apis_detail_exactly() -> None:
    with client_for("status_400") as (client, stats, _):
        outcome = client.send(BODY, 3)
    assert outcome == Refused(400, "solutionName INV_OOTB is not known", True, outcome.came_back)
    assert stats.requests == 1


def test_a_stop_during_a_slow_request_on_the_wire_still_returns_its_acknowledgement() -> None:
    stop = threading.Event()
    with client_for("slow_ok", stop=stop) as (client, _, server):
        threading.Timer(0.3, stop.set).start()  # the server answers after 1 s
        outcome = client.send(BODY, 3)
        after = client.send(BODY, 3)  # no new attempt starts after the stop
        requests = sum(server.requests.values())
    assert isinstance(outcome, Acknowledged)
    assert isinstance(after, Stopped) and requests == 1


def test_a_stop_ends_a_backoff_wait_at_once() -> None:
    stop = threading.Event()
    with client_for("status_503", stop=stop, max_attempts=5) as (client, _, _):
        client._backoff_base = 30  # a 15-30 s backoff
        threading.Timer(0.3, stop.set).start()
        began = time.monotonic()
        outcome = client.send(BODY, 3)
    assert isinstance(outcome, Stopped) and time.monotonic() - began < 3


def test_a_stop_ends_a_throttle_pause_at_once() -> None:
    stop = threading.Event()
    with client_for("ok", stop=stop) as (client, _, _):
        client._limiter.pause(60)
        threading.Timer(0.2, stop.set).start()
        began = time.monotonic()
        outcome = client.send(BODY, 3)
    assert isinstance(outcome, Stopped) and time.monotonic() - began < 3


def test_rate_limiter_spaces_requests_evenly_across_threads() -> None:
    limiter = RateLimiter(20)  # one slot every 50 ms
    began = time.monotonic()
    threads = [threading.Thread(target=lambda: [limiter.acquire() for _ in range(3)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert time.monotonic() - began >= 11 * 0.05  # 12 requests need at least 11 intervals


def test_attempt_reports_the_status_or_none_without_an_answer() -> None:
    with client_for("html_413") as (client, _, _):
        outcome, status = client.attempt(BODY, 1)
    assert status == 413 and isinstance(outcome, Refused) and not outcome.from_api
    with client_for("trickle_headers", timeout_seconds=0.5) as (client, _, _):
        outcome, status = client.attempt(BODY, 1)
    assert status is None and "did not complete within --timeout (0.5 s)" in outcome.reason  # type: ignore[union-attr]
