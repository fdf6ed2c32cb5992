"""What an answer means, without a network: classify() for every body shape the API, a proxy or a wrong host
can give. Only the API's success object for this request acknowledges."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from exporter import errors
from exporter.classify import classify, retry_after
from exporter.masking import mask_secret
from exporter.outcomes import Acknowledged, Fatal, Refused, RequestIds, Unconfirmed, exit_code_of, request_key
from exporter.settings import load_settings

TOKEN = "pat-classify-must-not-leak-9"
SETTINGS = load_settings({"base_url": "http://127.0.0.1:9"}, {"PEAK_API_KEY": TOKEN})
JSON = {"Content-Type": "application/json"}


def mask(text: str) -> str:
    return mask_secret(text, TOKEN)


def judge(status: int, body: object, n_rows: int = 3, *, headers: dict[str, str] | None = None,
          request_ids: RequestIds | None = None, settings=SETTINGS):
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return classify(status, headers or JSON, raw, n_rows, settings, mask,
                    request_ids if request_ids is not None else RequestIds())


def test_the_success_object_acknowledges_with_its_failed_rows_as_rejections() -> None:
    body = {"requestId": "r-1", "accepted": 2, "failed": [
        {"index": 1, "errors": [{"code": "DI_E_7", "category": "FORMAT", "message": "bad ts", "column": "x"}]}]}
    outcome = judge(200, body)
    assert isinstance(outcome, Acknowledged) and outcome.request_id == "r-1"
    assert [(r.row_index, r.error_code, r.category, r.message, r.column_name, r.http_status)
            for r in outcome.rejections] == [(1, "DI_E_7", "FORMAT", "bad ts", "x", 200)]


NOT_THE_SUCCESS_OBJECT = {
    "empty object": ({}, "lacks 'requestId', 'accepted', 'failed'"),
    "unauthorized": ({"error": "Unauthorized", "message": "invalid token"}, "naming an error ('error')"),
    "not found": ({"detail": "Not Found"}, "naming an error ('detail')"),
    "queued": ({"status": "queued"}, "'status' is 'queued', not a success"),
    "null counts": ({"accepted": None, "failed": None}, "lacks 'requestId', 'accepted', 'failed'"),
    "no requestId": ({"accepted": 3, "failed": []}, "lacks 'requestId'"),
    "no accepted": ({"requestId": "r", "failed": []}, "lacks 'accepted'"),
    "no failed": ({"requestId": "r", "accepted": 3}, "lacks 'failed'"),
    "empty requestId": ({"requestId": "", "accepted": 3, "failed": []}, "'requestId' is '', not a non-empty"),
    "numeric requestId": ({"requestId": 7, "accepted": 3, "failed": []}, "'requestId' is 7"),
    "accepted true": ({"requestId": "r", "accepted": True, "failed": [{"index": 0}, {"index": 1}]},
                      "'accepted' is True"),
    "accepted a string": ({"requestId": "r", "accepted": "3", "failed": []}, "'accepted' is '3'"),
    "accepted short": ({"requestId": "r", "accepted": 2, "failed": []}, "'accepted' is 2 for 3 rows sent and 0"),
    "counts over": ({"requestId": "r", "accepted": 3, "failed": [{"index": 0}]}, "'accepted' is 3 for 3 rows"),
    "errors listed": ({"requestId": "r", "accepted": 3, "failed": [], "errors": ["quota"]}, "naming an error"),
    "index out of range": ({"requestId": "r", "accepted": 2, "failed": [{"index": 3}]}, "no integer index"),
    "index a bool": ({"requestId": "r", "accepted": 2, "failed": [{"index": True}]}, "no integer index"),
    "index twice": ({"requestId": "r", "accepted": 1, "failed": [{"index": 1}, {"index": 1}]}, "row 1 twice"),
    "failed too long": ({"requestId": "r", "accepted": 0, "failed": [{"index": 0}] * 4}, "4 entries for 3 rows"),
    "failed an object": ({"requestId": "r", "accepted": 2, "failed": {"index": 1}}, "JSON object, not an array"),
    "a list": ([{"requestId": "r"}], "a JSON array, not an object"),
    "not json": (b"<html>Welcome to nginx!</html>", "a body that is not JSON"),
    "empty": (b"", "empty body"),
}


@pytest.mark.parametrize(("body", "why"), NOT_THE_SUCCESS_OBJECT.values(), ids=NOT_THE_SUCCESS_OBJECT.keys())
@pytest.mark.parametrize("status", [200, 201, 202])
def test_a_2xx_that_is_not_the_success_object_is_unconfirmed(status: int, body: object, why: str) -> None:
    outcome = judge(status, body)
    assert isinstance(outcome, Unconfirmed), outcome
    assert why in outcome.reason and "not the API's acknowledgement" in outcome.reason
    assert exit_code_of(outcome) == errors.EXIT_DELIVERY_FAILED


def test_a_failed_array_far_longer_than_the_batch_is_refused_before_it_is_parsed() -> None:
    body = b'{"requestId": "r", "accepted": 0, "failed": [' + b",".join([b'{"index": 0}'] * 100_000) + b"]}"
    outcome = judge(200, body, n_rows=3)
    assert isinstance(outcome, Unconfirmed) and "JSON objects for 3 rows sent" in outcome.reason


def test_a_success_word_status_is_allowed() -> None:
    assert isinstance(judge(200, {"requestId": "r", "accepted": 3, "failed": [], "status": "OK"}), Acknowledged)


def test_a_replayed_request_id_is_unconfirmed_and_the_first_claim_stands() -> None:
    ids = RequestIds([request_key("from-an-earlier-run")])  # the ledger keeps keyed digests of the ids
    first = judge(200, {"requestId": "r-1", "accepted": 3, "failed": []}, request_ids=ids)
    again = judge(200, {"requestId": "r-1", "accepted": 3, "failed": []}, request_ids=ids)
    earlier = judge(200, {"requestId": "from-an-earlier-run", "accepted": 3, "failed": []}, request_ids=ids)
    assert isinstance(first, Acknowledged)
    for outcome in (again, earlier):
        assert isinstance(outcome, Unconfirmed)
        assert "replayed answer: requestId" in outcome.reason and "acknowledged for another batch" in outcome.reason


def test_ack_fields_names_what_a_tenants_answers_must_carry_and_present_fields_are_still_checked() -> None:
    lean = load_settings({"base_url": "http://127.0.0.1:9", "ack_fields": "accepted"}, {"PEAK_API_KEY": TOKEN})
    assert isinstance(judge(200, {"accepted": 3}, settings=lean), Acknowledged)
    short = judge(200, {"accepted": 2}, settings=lean)  # no 'failed' to say which row was not taken
    assert isinstance(short, Unconfirmed) and "no 'failed' says which rows" in short.reason
    wrong = judge(200, {"accepted": 3, "failed": [{"index": 0}]}, settings=lean)
    assert isinstance(wrong, Unconfirmed) and "'accepted' is 3 for 3 rows sent and 1 failed" in wrong.reason
    assert isinstance(judge(200, {"failed": []}, settings=lean), Unconfirmed)  # accepted was named


@pytest.mark.parametrize("status", [400, 413])
def test_a_refusal_carries_the_apis_detail_exactly(status: int) -> None:
    detail = "solutionName INV_OOTB is not known " + "x" * 700  # longer than any quote
    outcome = judge(status, {"detail": detail})
    assert isinstance(outcome, Refused) and outcome.from_api and outcome.detail == detail
    assert exit_code_of(outcome) == errors.EXIT_CONFIG_ERROR


def test_a_proxys_413_page_is_a_refusal_that_says_nothing_about_the_row_exit_3() -> None:
    outcome = judge(413, b"<html><h1>413 Request Entity Too Large</h1></html>", headers={"Content-Type": "text/html"})
    assert isinstance(outcome, Refused) and not outcome.from_api and "HTTP 413 (text/html" in outcome.came_back
    assert exit_code_of(outcome) == errors.EXIT_CONFIG_ERROR


def test_the_token_is_masked_in_every_text_taken_from_an_answer() -> None:
    escaped = TOKEN.replace("-", "\\u002d")
    body = (f'{{"requestId": "r-{TOKEN}", "accepted": 2, "failed": [{{"index": 0, "errors": '
            f'[{{"code": "X", "message": "bad {escaped}", "column": "{TOKEN}"}}]}}]}}').encode()
    outcome = judge(200, body)
    assert isinstance(outcome, Acknowledged) and outcome.request_id == "r-********"
    assert (outcome.rejections[0].message, outcome.rejections[0].column_name) == ("bad ********", "********")
    refused = judge(400, {"detail": f"token {TOKEN} refused"})
    assert isinstance(refused, Refused) and refused.detail == "token ******** refused"
    for status in (401, 404, 409):
        fatal = judge(status, {"detail": f"token {TOKEN}"})
        assert isinstance(fatal, Fatal) and TOKEN not in str(fatal.error)


@pytest.mark.parametrize(("status", "kind"), [(401, errors.AuthError), (403, errors.AuthError),
                                              (404, errors.AuthError), (405, errors.ConfigError),
                                              (422, errors.ConfigError)])
def test_other_4xx_are_fatal(status: int, kind: type) -> None:
    outcome = judge(status, {"detail": "no"})
    assert isinstance(outcome, Fatal) and isinstance(outcome.error, kind)
    assert exit_code_of(outcome) == errors.EXIT_CONFIG_ERROR


def test_a_redirect_is_fatal_and_names_the_location_redacted() -> None:
    outcome = judge(302, b"", headers={"Location": "https://user:hunter2@elsewhere.example/ingest"})
    assert isinstance(outcome, Fatal)
    assert "a redirect to https://***@elsewhere.example/ingest" in str(outcome.error)
    assert "hunter2" not in str(outcome.error)


@pytest.mark.parametrize(("status", "throttled"), [(429, True), (503, False), (408, False)])
def test_throttles_and_server_errors_are_unconfirmed_with_their_retry_after(status: int, throttled: bool) -> None:
    outcome = judge(status, b"", headers={"Retry-After": "7"})
    assert isinstance(outcome, Unconfirmed) and outcome.throttled is throttled and outcome.retry_after == 7.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("86400", 86400.0), ("2.5", 2.5), ("nan", None), ("inf", None), ("-5", None), ("soon", None), ("", None)],
)
def test_retry_after_in_seconds_or_unusable(value: str, expected: float | None) -> None:
    assert retry_after({"Retry-After": value}) == expected  # type: ignore[arg-type]


def test_retry_after_as_an_http_date() -> None:
    import httpx

    far = retry_after(httpx.Headers({"Retry-After": "Wed, 01 Jan 2098 00:00:00 GMT"}))
    assert far is not None and far > 60 * 365 * 86400
    assert retry_after(httpx.Headers({"Retry-After": "Wed, 01 Jan 2020 00:00:00 GMT"})) is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 5) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["index", "errors", "code"]), inner),
    max_leaves=12,
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    request_id=st.none() | _JSON,
    accepted=st.none() | _JSON,
    failed=st.none() | st.lists(st.dictionaries(st.sampled_from(["index", "errors"]), _JSON), max_size=4) | _JSON,
    status=st.sampled_from([200, 201, 202, 204, 302, 400, 405, 429, 503]),
)
def test_no_body_shape_makes_classify_raise_and_only_a_consistent_one_acknowledges(
    request_id, accepted, failed, status
) -> None:
    outcome = judge(status, {"requestId": request_id, "accepted": accepted, "failed": failed})
    assert isinstance(outcome, Acknowledged | Unconfirmed | Refused | Fatal)
    if isinstance(outcome, Acknowledged):
        assert 200 <= status < 300 and isinstance(request_id, str) and request_id
        assert type(accepted) is int and isinstance(failed, list) and accepted + len(failed) == 3
        assert sorted({r.row_index for r in outcome.rejections}) == sorted(e["index"] for e in failed)


def test_transport_faults_map_to_outcomes_in_one_place() -> None:
    import httpcore

    from exporter.classify import classify_failure
    from exporter.transport import BodyTooLarge, UndecodableBody, UnsupportedEncoding

    untrusted = httpcore.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
                                      "certificate (_ssl.c:1006)")
    cases = {
        untrusted: (Fatal, "not trusted (certificate verify failed: self-signed certificate): point --ca-bundle"),
        httpcore.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version"): (Fatal, "TLS handshake with 127.0.0.1"),
        httpcore.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."): (Fatal, "cannot send to"),
        httpcore.ReadTimeout(f"the request did not complete ({TOKEN})"): (Unconfirmed, "ReadTimeout: the request did"),
        httpcore.ConnectError("[Errno 111] Connection refused"): (Unconfirmed, "ConnectError: [Errno 111]"),
        httpcore.RemoteProtocolError("peer closed"): (Unconfirmed, "RemoteProtocolError: peer closed"),
        BodyTooLarge(200, "HTTP 200 with a body over 16 MB"): (Unconfirmed, "not the API's acknowledgement"),
        UndecodableBody(503, "HTTP 503 with a response body that cannot be decoded"): (Unconfirmed, "cannot be"),
        UnsupportedEncoding(200, "HTTP 200 with Content-Encoding 'br', an unsupported encoding"): (Unconfirmed, "br"),
    }
    for exc, (kind, fragment) in cases.items():
        outcome = classify_failure(exc, SETTINGS, mask)
        assert isinstance(outcome, kind), exc
        text = str(outcome.error) if isinstance(outcome, Fatal) else outcome.reason
        assert fragment in text and TOKEN not in text, text
