"""The HTTP client's policy, against httpx.MockTransport: what is retried, waited out, split or fatal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from exporter.client import BatchRefused, HttpStats, IngestionClient, RateLimiter, Stopped
from exporter.errors import AuthError, ConfigError, DeliveryError
from exporter.settings import load_settings

TOKEN = "pat-must-not-leak-42"
BODY = b'{"solutionName":"INV_OOTB","operationType":"UPSERT","data":[{},{},{}]}'


def make_client(handler: Callable[[httpx.Request], httpx.Response], **flags: object):
    settings = load_settings(
        {"base_url": "http://127.0.0.1:9", "max_attempts": 4, "retry_budget_seconds": 30, **flags},
        {"PEAK_API_KEY": TOKEN},
    )
    stats = HttpStats()
    http = httpx.MockTransport(handler)
    client = IngestionClient(http, settings, RateLimiter(1000), stats, backoff_base_seconds=0.01)
    return client, stats, http


def send(client: IngestionClient, http: httpx.BaseTransport, n_rows: int = 3):
    with http:
        return client.send(BODY, n_rows)


def scripted(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


def ok(failed: list | None = None) -> httpx.Response:
    return httpx.Response(200, json={"requestId": "r1", "accepted": 3, "failed": failed or []})


def test_sends_the_bare_token_and_json_content_type_to_the_object_endpoint() -> None:
    handler = scripted(ok())
    client, _, http = make_client(handler)
    delivered = send(client, http)
    request = handler.seen[0]  # type: ignore[attr-defined]
    assert request.headers["Authorization"] == TOKEN
    assert request.headers["Content-Type"] == "application/json"
    assert str(request.url) == "http://127.0.0.1:9/api/v2/ingest/object/INV_MANUFACTURING_ORDERS_OOTB"
    assert request.content == BODY
    assert delivered.rejections == [] and delivered.request_id == "r1"


def test_retries_503_then_succeeds() -> None:
    client, stats, http = make_client(scripted(httpx.Response(503), httpx.Response(502), ok()))
    send(client, http)
    assert (stats.requests, stats.retries, stats.by_status) == (3, 2, {"503": 1, "502": 1, "200": 1})


def test_retries_dropped_connections_and_timeouts() -> None:
    client, stats, http = make_client(
        scripted(httpx.RemoteProtocolError("peer closed"), httpx.ReadTimeout("slow"), ok())
    )
    send(client, http)
    assert stats.retries == 2 and stats.by_status["200"] == 1


def test_waits_out_429_with_retry_after_without_counting_it_as_a_failure() -> None:
    throttled = [httpx.Response(429, headers={"Retry-After": "1"}) for _ in range(2)]
    client, stats, http = make_client(scripted(*throttled, ok()), max_attempts=1)
    began = time.monotonic()
    send(client, http)
    assert time.monotonic() - began >= 2 * 1.0  # every Retry-After honoured, even with max_attempts=1
    assert (stats.throttled_waits, stats.retries, stats.throttled_seconds) == (2, 0, 2.0)


def test_gives_up_after_max_attempts_with_a_delivery_error() -> None:
    client, stats, http = make_client(scripted(*[httpx.Response(500)] * 4))
    with pytest.raises(DeliveryError, match=r"after 4 failed attempts.*HTTP 500.*stay pending"):
        send(client, http)
    assert stats.requests == 4


def test_gives_up_when_the_retry_budget_is_spent() -> None:
    responses = [httpx.Response(429, headers={"Retry-After": "1"})] * 3
    client, _, http = make_client(scripted(*responses), retry_budget_seconds=0.5)
    with pytest.raises(DeliveryError, match=r"retry budget of 0\.5 s"):
        send(client, http)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_stop_at_once_and_never_echo_the_token(status: int) -> None:
    client, stats, http = make_client(scripted(httpx.Response(status, json={"detail": "bad token"})))
    with pytest.raises(AuthError) as caught:
        send(client, http)
    assert "PEAK_API_KEY" in str(caught.value) and "Bearer" in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    assert stats.requests == 1


def test_unknown_object_names_what_to_check() -> None:
    client, _, http = make_client(scripted(httpx.Response(404, json={"detail": "no such object"})))
    with pytest.raises(AuthError, match=r"object name \('INV_MANUFACTURING_ORDERS_OOTB'\).*PEAK_BASE_URL"):
        send(client, http)


@pytest.mark.parametrize("status", [400, 413, 422])
def test_whole_request_refusals_are_raised_for_splitting(status: int) -> None:
    client, _, http = make_client(scripted(httpx.Response(status, json={"detail": "too big"})))
    with pytest.raises(BatchRefused) as caught:
        send(client, http)
    assert (caught.value.status, caught.value.detail) == (status, "too big")


def test_failed_entries_become_row_rejections_and_junk_entries_are_ignored() -> None:
    failed = [
        {"index": 1, "errors": [{"code": "DI_E_00007", "category": "FORMAT", "message": "bad ts", "column": "x"}]},
        {"index": 99, "errors": [{"code": "DI_E_1"}]},  # outside the batch
        "junk",
        {"index": 2},  # no errors listed
    ]
    client, _, http = make_client(scripted(ok(failed)))
    delivered = send(client, http)
    assert [(r.row_index, r.error_code, r.category, r.message, r.column_name) for r in delivered.rejections] == [
        (1, "DI_E_00007", "FORMAT", "bad ts", "x"),
        (2, "UNKNOWN", None, "", None),
    ]


def test_a_2xx_without_json_acknowledges_every_row() -> None:
    client, _, http = make_client(scripted(httpx.Response(202, content=b"accepted")))
    assert send(client, http).rejections == []


def test_untrusted_tls_certificate_is_a_configuration_error_not_retried() -> None:
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed (_ssl.c:1006)")
    client, stats, http = make_client(scripted(error))
    with pytest.raises(ConfigError, match=r"not trusted.*--ca-bundle"):
        send(client, http)
    assert stats.requests == 1


def test_rate_limiter_spaces_requests_evenly_across_threads() -> None:
    limiter = RateLimiter(20)  # one slot every 50 ms
    began = time.monotonic()
    threads = [threading.Thread(target=lambda: [limiter.acquire() for _ in range(3)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert time.monotonic() - began >= 11 * 0.05  # 12 requests need at least 11 intervals


def test_a_stop_interrupts_a_backoff_wait_at_once() -> None:
    stop = threading.Event()
    settings = load_settings({"base_url": "http://127.0.0.1:9", "max_attempts": 5}, {"PEAK_API_KEY": TOKEN})
    http = httpx.MockTransport(lambda r: httpx.Response(503))
    client = IngestionClient(http, settings, RateLimiter(1000, stop), HttpStats(), backoff_base_seconds=30, stop=stop)
    threading.Timer(0.2, stop.set).start()
    began = time.monotonic()
    with pytest.raises(Stopped, match="stopped by a signal"):
        client.send(BODY, 3)
    assert time.monotonic() - began < 5  # not the 15-30 s backoff
