"""The check's requests judged as a run judges them: real HTTP on 127.0.0.1 to every hostile answer."""

from __future__ import annotations

import threading

import pytest

from exporter import errors
from exporter.client import DestinationProbe, HttpStats, IngestionClient, RateLimiter, build_http_client
from exporter.outcomes import RequestIds, exit_code_of
from exporter.preflight import CheckReport, dry_run_checks
from exporter.schema_compare import schema_paths
from exporter.settings import ExportSettings, load_settings
from tests.hostile_server import MODES, REDIRECT_TARGET, hostile_server

TOKEN = "pat-check-must-not-leak-7"
ONE_ROW = b'{"solutionName":"INV_OOTB","operationType":"UPSERT","dryRun":true,"data":[{"order_number":"1"}]}'


def settings_for(base_url: str) -> ExportSettings:
    return load_settings({"base_url": base_url, "timeout_seconds": 1, "max_attempts": 1, "retry_budget_seconds": 2},
                         {"PEAK_API_KEY": TOKEN})


def run_exit_code(settings: ExportSettings) -> int:
    """The exit code a run of one row ends with for this answer: the run's own send(), its own exit code."""
    with build_http_client(settings) as http:
        client = IngestionClient(http, settings, RateLimiter(1000), HttpStats(), RequestIds(),
                                 stop=threading.Event(), backoff_base_seconds=0.01)
        return exit_code_of(client.send(ONE_ROW, 1))


def check_report(settings: ExportSettings) -> CheckReport:
    report = CheckReport()
    with DestinationProbe(settings) as probe:
        dry_run_checks(settings, probe.dry_run(ONE_ROW), report)
    return report


#: modes that only time the client's waits (a throttle, a slow success): the agreement is the same as for "ok"
_TIMING_ONLY = {"slow_ok", "throttled_briefly"}


@pytest.mark.parametrize("mode", sorted(set(MODES) - _TIMING_ONLY))
def test_the_check_exits_as_a_run_would_for_every_hostile_answer(mode: str) -> None:
    with hostile_server(mode) as server:
        settings = settings_for(server.base_url)
        expected = run_exit_code(settings)
        report = check_report(settings)

    assert report.exit_code == expected
    statuses = {c.name: c.status for c in report.checks}
    assert (statuses.get("sample row") == "ok") == (expected == errors.EXIT_OK)
    assert all(TOKEN not in c.detail for c in report.checks)
    assert REDIRECT_TARGET not in server.requests


@pytest.mark.parametrize(
    ("mode", "exit_code", "failing", "fragment"),
    [
        ("ok", 0, None, ""),
        ("html_200", 2, "destination", "a body that is not JSON, not the API's acknowledgement"),
        ("accepted_short", 2, "destination", "'accepted' is 0 for 1 rows sent and 0 failed"),
        ("index_out_of_range", 2, "destination", "no integer index within the 1 rows sent"),
        ("204_no_body", 2, "destination", "HTTP 204 (no content type, empty body)"),
        ("redirect_307", 3, "destination", "a redirect to http://127.0.0.1:"),
        ("huge_body", 2, "destination", "with a body over 16 MB"),
        ("trickle_body", 2, "destination", "within --timeout (1 s)"),
        ("echo_raw", 1, "sample row", "X1 (********): bad row for ********"),
    ],
)
def test_the_check_names_what_came_back_in_the_runs_words(mode: str, exit_code: int, failing: str | None,
                                                         fragment: str) -> None:
    with hostile_server(mode) as server:
        report = check_report(settings_for(server.base_url))

    assert report.exit_code == exit_code
    failed = [c for c in report.checks if c.status == "fail"]
    assert [c.name for c in failed] == ([failing] if failing else [])
    assert fragment in (failed[0].detail if failed else "")


def test_a_schema_read_redirected_is_not_followed_and_names_the_location() -> None:
    with hostile_server("redirect_302") as server:
        settings = settings_for(server.base_url)
        with DestinationProbe(settings) as probe:
            answers = probe.read_schema(schema_paths(settings.solution_name))

    assert len(answers) == 1 and answers[0].status == 302
    assert answers[0].fatal is not None and answers[0].fatal.exit_code == errors.EXIT_CONFIG_ERROR
    assert f"a redirect to {server.base_url}{REDIRECT_TARGET}" in str(answers[0].fatal)
    assert server.requests == {"/api/v2/schema/solutions": 1}


def test_a_schema_read_stops_at_the_body_cap() -> None:
    with hostile_server("huge_body") as server:
        settings = settings_for(server.base_url)
        with DestinationProbe(settings) as probe:
            answers = probe.read_schema(schema_paths(settings.solution_name))

    assert [(a.status, a.error) for a in answers] == [(200, "HTTP 200 with a body over 16 MB")]
    assert answers[0].body is None


def test_a_schema_read_masks_the_token_echoed_in_json() -> None:
    with hostile_server("echo_unicode_escaped") as server:
        settings = settings_for(server.base_url)
        with DestinationProbe(settings) as probe:
            answers = probe.read_schema(schema_paths(settings.solution_name))

    assert answers[0].status == 200
    assert answers[0].body["requestId"] == "r-********"


def test_the_check_names_the_fields_an_answer_lacks_and_ack_fields_accepts_a_lean_tenant() -> None:
    with hostile_server("no_request_id") as server:
        strict = check_report(settings_for(server.base_url))
        lean_settings = load_settings({"base_url": server.base_url, "timeout_seconds": 1, "max_attempts": 1,
                                       "ack_fields": "accepted,failed"}, {"PEAK_API_KEY": TOKEN})
        lean = check_report(lean_settings)
        lean_run = run_exit_code(lean_settings)

    assert strict.exit_code == errors.EXIT_DELIVERY_FAILED
    assert "the success object lacks 'requestId'" in strict.checks[0].detail
    assert lean.exit_code == lean_run == errors.EXIT_OK
    assert "carries no requestId" in {c.name: c for c in lean.checks}["sample row"].detail


def test_a_proxys_html_413_on_a_one_row_request_exits_3_in_check_as_in_run() -> None:
    with hostile_server("html_413") as server:
        settings = settings_for(server.base_url)
        run = run_exit_code(settings)
        report = check_report(settings)

    assert run == report.exit_code == errors.EXIT_CONFIG_ERROR
    assert "not the ingestion API's error object" in report.checks[0].detail
