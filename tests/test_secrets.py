"""The API token appears nowhere: not on stdout or stderr, not in text or JSON logs (with -vv and httpx/httpcore
debug logging switched on), not in target/export_results.json, not in any table or view of the state schema,
not in exception messages, tracebacks or reprs, not in the sandbox's log or command line.

Every token here carries the marker ``leakcanary``; each scenario collects every text the run produced and
searches it for the marker and each whole token, in any case, also after decoding HTML entities and URL
encoding (twice), and for each token's base64 form at any of the three byte alignments (standard and
URL-safe), so a token echoed in an encoded form counts as leaked. The exporter's masking is tested form by
form in tests/test_masking.py; here a server echoes the token in those forms and the run's outputs are read.
"""

from __future__ import annotations

import base64
import html
import logging
import pickle
import random
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

import duckdb
import orjson
import pytest

import exporter.cli
from exporter.client import HttpStats, IngestionClient, RateLimiter, build_http_client
from exporter.errors import DeliveryError, ExportError
from exporter.outcomes import Fatal, GaveUp, RequestIds
from exporter.settings import load_settings
from mo_export_dev.sample_data import generate
from mo_export_dev.sandbox import SandboxConfig, start_sandbox_process
from tests.dbt_support import run_dbt
from tests.export_support import CliResult, Project, run_cli
from tests.hostile_server import PARENT_OBJECTS
from tests.test_hostile_config import closed_port, holding_duckdb_file, https_sandbox

pytestmark = pytest.mark.slow

MARKER = "leakcanary"
SECRET = f"pat-{MARKER}-Zq81xV77-9f0e"
WRONG_SECRET = f"pat-{MARKER}-wrong-4d2c"
READONLY_SECRET = f"pat-{MARKER}-readonly-77aa"
TOKENS = (SECRET, WRONG_SECRET, READONLY_SECRET)
STATE = "mo_export_state"
MODEL = "main.peak_manufacturing_orders"
#: a run sends Locations first, with their own ledger (``{STATE}__peak_locations``) and results file
RESULTS_FILES = ("export_results.json", "export_results.peak_locations.json")


def _base64_needles(token: str) -> list[str]:
    """The base64 characters that encode only ``token``'s bytes, wherever in a longer string they start."""
    needles = []
    for variant in {token, token.upper(), token.lower()}:
        for alignment in range(3):
            encoded = base64.b64encode(b"x" * alignment + variant.encode()).decode()
            stable = encoded[4 if alignment else 0 : -4]  # drop the groups shared with other bytes
            needles += [stable, stable.replace("+", "-").replace("/", "_")]
    return needles


BASE64_NEEDLES = [needle for token in TOKENS for needle in _base64_needles(token)]


def assert_no_secret(where: str, text: str) -> None:
    views = {text, html.unescape(text), unquote(text), unquote(unquote(text)), unquote(unquote(html.unescape(text)))}
    for view in views:
        for needle in [MARKER, *TOKENS]:
            assert needle.lower() not in view.lower(), f"{needle!r} leaked into {where}:\n{text[:3000]}"
    for needle in BASE64_NEEDLES:
        assert needle not in text, f"{needle!r} (base64) leaked into {where}:\n{text[:3000]}"


# -- fixtures -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    folder = tmp_path_factory.mktemp("secrets_built")
    duckdb_path = folder / "warehouse.duckdb"
    generate(duckdb_path, orders=300, seed=23)
    run = run_dbt(["build"], duckdb_path=duckdb_path, target_path=folder / "target")
    assert run.success, "\n".join(run.failures())
    return Project(duckdb_path, folder / "target")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The sandbox in its own process, knowing the real token and a read-only one (both given by environment)."""
    folder = tmp_path_factory.mktemp("secrets_sandbox")
    config = SandboxConfig(token=SECRET, readonly_tokens=frozenset({READONLY_SECRET}),
                           store_path=folder / "store.sqlite", rate_limit_rps=0,
                           refused_order_numbers=frozenset({"REFUSED-1", "REFUSED-2", "REFUSED-3"}))
    with start_sandbox_process(config, folder / "sandbox.log") as process:
        yield process
    assert_no_secret("the sandbox log", (folder / "sandbox.log").read_text(errors="replace"))


@pytest.fixture
def project(built: Project, tmp_path: Path) -> Project:
    return built.copy_to(tmp_path / "project")


@pytest.fixture(autouse=True)
def third_party_debug_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """-vv keeps httpx/httpcore at WARNING; switch them to DEBUG too, as someone debugging a run might."""
    original = exporter.cli.configure_logging

    def configure(**kwargs: object) -> None:
        original(**kwargs)  # type: ignore[arg-type]
        for name in ("httpx", "httpcore", "h11", "asyncio"):
            logging.getLogger(name).setLevel(logging.DEBUG)

    monkeypatch.setattr(exporter.cli, "configure_logging", configure)


# -- collecting everything a run left behind ----------------------------------------------------------------------
def dump_state(duckdb_path: Path) -> str:
    """Every column of every table and view in the state schemas (the orders' and each other object's), as
    text."""
    if not duckdb_path.exists():
        return ""
    try:
        con = duckdb.connect(str(duckdb_path), read_only=True)
    except duckdb.Error:
        return ""  # not a DuckDB file (the garbage scenario)
    with con:
        relations = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema = ? or starts_with(table_schema, ?) order by table_schema <> ?, 1, 2",
            [STATE, f"{STATE}__", STATE],
        ).fetchall()
        parts = []
        for schema, name in relations:
            try:
                rows = con.execute(f'select columns(*)::varchar from "{schema}"."{name}"').fetchall()
            except duckdb.Error as exc:  # a view over a table the scenario dropped
                rows = [(f"unreadable: {exc}",)]
            parts.append(f"{name}: {rows}" if schema == STATE else f"{schema}.{name}: {rows}")
    return "\n".join(parts)


def collect(project: Project, result: CliResult, extra_files: list[Path]) -> dict[str, str]:
    texts = {"stdout": result.stdout, "stderr": result.stderr, "state schema": dump_state(project.duckdb_path)}
    for path in [*(project.target_path / name for name in RESULTS_FILES), *extra_files]:
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    return texts


# -- scenarios ----------------------------------------------------------------------------------------------------
@dataclass
class Scenario:
    """How to break (or not) a copy of the project, what to run, and the exit code that proves it ran."""

    exit_code: int
    args: list[str] = field(default_factory=list)
    token: str = SECRET
    prepare: Callable[[Project, Path], None] = lambda project, tmp: None
    base_url: str | None = None  # None: the sandbox
    context: Callable[[Project, Path], object] | None = None  # a context manager held during the run


def execute(project: Project, sql: str) -> None:
    with duckdb.connect(str(project.duckdb_path)) as con:
        con.execute(sql)


def reject_three_rows(project: Project, tmp: Path) -> None:
    """Give three rows the order numbers the module's sandbox refuses."""
    execute(project, f"""update {MODEL} set order_number = 'REFUSED-' || n from (
                             select order_number as old, row_number() over (order by order_number) as n
                             from {MODEL} order by 1 limit 3) as pick
                         where order_number = pick.old""")


def fail_the_last_build(project: Project, tmp: Path) -> None:
    """Record, in the file itself, a later build in which the contract model failed."""
    execute(project, """insert into mo_export_build.node_results
                        select 'later-build', 'build', '', unique_id, resource_type, 'error', 'simulated failure',
                               started_at, recorded_at + interval 1 minute
                        from mo_export_build.node_results
                        where unique_id = 'model.mo_export.peak_manufacturing_orders'
                        order by recorded_at desc limit 1""")


SCENARIOS: dict[str, Scenario] = {
    "success": Scenario(0),
    "api rejects rows": Scenario(1, prepare=reject_three_rows),
    "401 wrong token": Scenario(3, token=WRONG_SECRET),
    "403 read-only token": Scenario(3, token=READONLY_SECRET),
    "404 unknown object": Scenario(3, args=["--object-name", "INV_NOPE"]),
    "api dry run": Scenario(0, args=["--api-dry-run"]),
    "dry run with payloads": Scenario(0, args=["--dry-run", "--payload-dir", "{tmp}/payloads"]),
    "connection refused": Scenario(2, args=["--max-attempts", "2", "--retry-budget", "5"], base_url="closed"),
    "malformed base url": Scenario(3, base_url="http://[::1:80"),
    "plain http remote": Scenario(3, base_url="http://ingestion.example.com"),
    "batch size over the limit": Scenario(3, args=["--batch-size", "2001"]),
    "payload dir without dry run": Scenario(3, args=["--payload-dir", "{tmp}/payloads"]),
    "no dbt build": Scenario(3, prepare=lambda p, t: (p.target_path / "manifest.json").unlink()),
    "table missing": Scenario(3, prepare=lambda p, t: execute(p, f"drop table {MODEL}")),
    "contract drift": Scenario(3, prepare=lambda p, t: execute(
        p, f"alter table {MODEL} rename column source_id to src")),
    "failed last build": Scenario(3, prepare=fail_the_last_build),
    "garbage duckdb file": Scenario(3, prepare=lambda p, t: p.duckdb_path.write_bytes(b"\x00garbage" * 999)),
    "duckdb file held": Scenario(2, context=lambda p, t: holding_duckdb_file(p.duckdb_path)),  # transient
    "token with a line break": Scenario(3, token=f"pat-{MARKER}\n-second-line"),
    "token with bearer prefix": Scenario(3, token=f"Bearer {SECRET}"),
    "untrusted tls": Scenario(3, args=["--max-attempts", "2"], base_url="tls"),
}
#: applied after a first successful export of the same copy
STATE_DAMAGE: dict[str, str] = {
    "state column dropped": f"alter table {STATE}.runs drop column summary",
    "state table dropped": f"drop table {STATE}.rejections",
    "state wrong version": f"update {STATE}.schema_version set version = 9",
    "state schema dropped": f"drop schema {STATE} cascade",
}


def run_export(project: Project, base_url: str, token: str, args: list[str], log_format: str,
               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CliResult:
    return run_cli(["--log-format", log_format, "-vv", "run", "--no-progress", *args],
                   project.env(base_url, token), monkeypatch, capsys)


def check_json_lines(stderr: str) -> int:
    """Every stderr line that looks like JSON parses as JSON; returns how many there were."""
    lines = [line for line in stderr.splitlines() if line.startswith("{")]
    for line in lines:
        assert isinstance(orjson.loads(line), dict)
    return len(lines)


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_token_appears_nowhere(name, log_format, project, sandbox, tmp_path, monkeypatch, capsys) -> None:
    scenario = SCENARIOS[name]
    scenario.prepare(project, tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in scenario.args]
    with ExitStack() as stack:
        if scenario.context is not None:
            stack.enter_context(scenario.context(project, tmp_path))  # type: ignore[arg-type]
        if scenario.base_url == "tls":
            base_url = stack.enter_context(https_sandbox(tmp_path / "tls")).base_url
        elif scenario.base_url == "closed":
            base_url = f"http://127.0.0.1:{closed_port()}"
        else:
            base_url = scenario.base_url or sandbox.base_url
        result = run_export(project, base_url, scenario.token, args, log_format, monkeypatch, capsys)
    assert result.exit_code == scenario.exit_code, result.stderr
    assert "Traceback" not in result.stderr
    if log_format == "json":
        assert check_json_lines(result.stderr) > 0
    payloads = sorted((tmp_path / "payloads").glob("*.json")) if (tmp_path / "payloads").exists() else []
    for where, text in collect(project, result, payloads).items():
        assert_no_secret(f"{name} ({log_format}): {where}", text)
    status = run_cli(["status", "--json"], project.env(sandbox.base_url, scenario.token), monkeypatch, capsys)
    assert_no_secret(f"{name}: mo-export status", status.stdout + status.stderr)


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("damage", list(STATE_DAMAGE))
def test_token_appears_nowhere_after_state_damage(damage, log_format, project, sandbox, monkeypatch, capsys) -> None:
    first = run_export(project, sandbox.base_url, SECRET, [], log_format, monkeypatch, capsys)
    assert first.exit_code == 0, first.stderr
    execute(project, STATE_DAMAGE[damage])
    result = run_export(project, sandbox.base_url, SECRET, [], log_format, monkeypatch, capsys)
    assert result.exit_code == (0 if damage == "state schema dropped" else 3), result.stderr
    for where, text in [*collect(project, first, []).items(), *collect(project, result, []).items()]:
        assert_no_secret(f"{damage} ({log_format}): {where}", text)


def test_debug_logs_of_the_client_and_httpcore_show_requests_but_not_the_authorization_header(
    project, sandbox, monkeypatch, capsys
) -> None:
    result = run_export(project, sandbox.base_url, SECRET, [], "text", monkeypatch, capsys)
    assert result.exit_code == 0, result.stderr
    # the debug output is really there (so its silence about the header means something) ...
    assert "httpcore.http11 - DEBUG" in result.stderr or "DEBUG httpcore" in result.stderr
    assert "send_request_headers" in result.stderr
    assert f"exporter.client: POST {sandbox.base_url}/api/v2/ingest/object/" in result.stderr
    # ... and neither the header nor its value is in it
    assert "authorization" not in result.stderr.lower()
    assert_no_secret("httpx/httpcore debug log", result.stderr)


# -- a hostile server that quotes the Authorization header back --------------------------------------------------
class _EchoHandler(BaseHTTPRequestHandler):
    """Answers with the status in the server's ``status`` attribute and the request's Authorization header quoted
    in the error body (as a careless proxy or API might); a 200 quotes it in every row's error message.

    Only the manufacturing orders' endpoint echoes: a run sends Locations first (the orders' parents), and a
    POST to their ingest path is answered as the API does (every row accepted), so the orders are sent."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = orjson.loads(self.rfile.read(length))
        if self.path.split("?", 1)[0].rsplit("/", 1)[-1] in PARENT_OBJECTS:
            self.server.parents_answered += 1  # type: ignore[attr-defined]
            data = orjson.dumps({"requestId": f"parent-{self.server.parents_answered}",  # type: ignore[attr-defined]
                                 "accepted": len(body["data"]), "failed": []})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        auth = self.server.encode(self.headers.get("Authorization") or "")  # type: ignore[attr-defined]
        status = self.server.status  # type: ignore[attr-defined]
        if status == 200:
            failed = [{"index": i, "errors": [{"code": "X1", "message": f"bad row for {auth}", "column": auth}]}
                      for i in range(len(body["data"]))]
            self.server.answered += 1  # type: ignore[attr-defined]
            payload = {"requestId": f"r-{auth}-{self.server.answered}", "accepted": 0,  # type: ignore[attr-defined]
                       "failed": failed}
        else:
            payload = {"detail": f"token {auth!r} refused"}
        data = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def echo_server(status: int, encode: Callable[[str], str] = lambda header: header) -> Iterator[str]:
    """The echoing server, quoting the Authorization header as ``encode`` gives it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.status = status  # type: ignore[attr-defined]
    server.encode = encode  # type: ignore[attr-defined]
    server.answered = 0  # type: ignore[attr-defined]
    server.parents_answered = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# a 400 for every request is the API refusing the request, not its rows: exit 3, nothing recorded as rejected
@pytest.mark.parametrize(("status", "exit_code"), [(401, 3), (403, 3), (404, 3), (400, 3), (500, 2), (200, 1)])
def test_a_server_echoing_the_token_does_not_get_it_recorded(project, monkeypatch, capsys, status, exit_code) -> None:
    with echo_server(status) as base_url:
        args = ["--max-attempts", "2", "--retry-budget", "5", "--max-rps", "1000", "--batch-size", "100"]
        result = run_export(project, base_url, SECRET, args, "json", monkeypatch, capsys)
    assert result.exit_code == exit_code, result.stderr
    for where, text in collect(project, result, []).items():
        assert_no_secret(f"echo {status}: {where}", text)


def _every_character_percent_encoded(text: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in text)


#: how a careless server or proxy re-encodes the ``Authorization`` header it quotes (issue 14: each of these
#: was stored in ``rejections``)
ECHO_ENCODINGS: dict[str, Callable[[str], str]] = {
    "base64": lambda header: base64.b64encode(header.encode()).decode(),
    "url-safe base64 in Basic credentials": lambda header: "Basic " + base64.urlsafe_b64encode(
        f"user:{header.split()[-1]}".encode()).decode(),
    "html decimal entities": lambda header: "".join(f"&#{ord(c)};" for c in header),
    "html hex entities": lambda header: "".join(f"&#x{ord(c):x};" for c in header),
    "without its last 3 characters": lambda header: header[:-3],
    "url-encoded twice": lambda header: quote(_every_character_percent_encoded(header)),
    "upper case": str.upper,
}


@pytest.mark.parametrize("encoding", list(ECHO_ENCODINGS))
def test_a_server_echoing_the_token_encoded_does_not_get_it_recorded(project, monkeypatch, capsys, encoding) -> None:
    """The row errors of a partial success quote the header in that encoding: the run records the rejections
    (exit 1) with the token masked in every stored and printed text."""
    with echo_server(200, ECHO_ENCODINGS[encoding]) as base_url:
        args = ["--max-attempts", "2", "--retry-budget", "5", "--max-rps", "1000", "--batch-size", "100"]
        result = run_export(project, base_url, SECRET, args, "text", monkeypatch, capsys)
    assert result.exit_code == 1, result.stderr
    texts = collect(project, result, [])
    assert "bad row for " in texts["state schema"] and "********" in texts["state schema"]  # recorded, masked
    for where, text in texts.items():
        assert_no_secret(f"echo {encoding}: {where}", text)


# -- objects in this process --------------------------------------------------------------------------------------
def test_settings_client_and_their_errors_never_show_the_token(tmp_path) -> None:
    settings = load_settings({"base_url": "http://127.0.0.1:9", "max_attempts": 2, "retry_budget_seconds": 5},
                             {"PEAK_API_KEY": SECRET})
    assert settings.api_key is not None and settings.api_key.reveal() == SECRET
    texts = {"repr(settings)": repr(settings), "str(settings)": str(settings),
             "public_dict": str(settings.public_dict()), "repr(api_key)": repr(settings.api_key),
             "str(api_key)": str(settings.api_key), "format(api_key)": f"{settings.api_key!s} {settings.api_key!r}"}

    def exception_texts(exc: BaseException) -> dict[str, str]:
        return {"str": str(exc), "repr": repr(exc), "args": repr(exc.args),
                "traceback": "".join(traceback.format_exception(exc)),
                "context": repr(exc.__context__) + repr(exc.__cause__)}

    def send_once(base_url: str) -> BaseException:
        s = load_settings({"base_url": base_url, "max_attempts": 2, "retry_budget_seconds": 5},
                          {"PEAK_API_KEY": SECRET})
        with build_http_client(s) as http:
            client = IngestionClient(http, s, RateLimiter(100), HttpStats(), RequestIds(), rng=random.Random(1),
                                     backoff_base_seconds=0.01, stop=threading.Event())
            texts[f"repr(client) {base_url}"] = repr(client) + repr(http)
            outcome = client.send(b'{"data": []}', 1)
            texts[f"repr(outcome) {base_url}"] = repr(outcome)
        if isinstance(outcome, Fatal):
            return outcome.error
        if isinstance(outcome, GaveUp):
            return DeliveryError(outcome.reason)
        raise AssertionError(f"the send should have failed, it came to {outcome!r}")

    for status in (401, 500):
        with echo_server(status) as base_url:
            for key, text in exception_texts(send_once(base_url)).items():
                texts[f"{status} exception {key}"] = text
    for key, text in exception_texts(send_once(f"http://127.0.0.1:{closed_port()}")).items():
        texts[f"refused exception {key}"] = text
    try:
        load_settings({}, {"PEAK_API_KEY": f"{SECRET} x"})
    except ExportError as exc:
        texts.update({f"bad token {k}": v for k, v in exception_texts(exc).items()})
    else:
        raise AssertionError("a token with a space must be refused")
    with pytest.raises(TypeError):
        pickle.dumps(settings)
    for where, text in texts.items():
        assert_no_secret(where, text)


def test_the_sandbox_process_log_and_command_line_hold_no_token(project, sandbox, monkeypatch, capsys) -> None:
    """The sandbox received the real, a wrong and a read-only token; its log and command line show none."""
    for token, expected in ((SECRET, 0), (WRONG_SECRET, 3), (READONLY_SECRET, 3)):
        result = run_export(project, sandbox.base_url, token, ["--full-refresh"], "text", monkeypatch, capsys)
        assert result.exit_code == expected, result.stderr
    by_status = sandbox.stats()["requests_by_status"]
    assert by_status.get("200", 0) > 0 and by_status.get("401", 0) > 0 and by_status.get("403", 0) > 0
    assert_no_secret("the sandbox log", sandbox.log_path.read_text(errors="replace"))
    cmdline = Path(f"/proc/{sandbox.pid}/cmdline")
    if cmdline.exists():
        assert_no_secret("the sandbox command line", cmdline.read_bytes().replace(b"\0", b" ").decode())


def test_a_third_party_log_line_quoting_the_token_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from exporter.logging_setup import configure_logging, mask_in_logs

    for log_format in ("text", "json"):
        configure_logging(log_format=log_format, verbosity=2)
        mask_in_logs(SECRET)
        logging.getLogger("httpcore.http11").warning("receive_response_headers: %s", [(b"x-echo", SECRET)])
        logging.getLogger("someone.else").warning(f"Authorization: {SECRET}")
        err = capsys.readouterr().err
        assert "receive_response_headers" in err and "Authorization: ********" in err
        assert SECRET not in err


def test_log_lines_and_the_last_error_mask_the_token_in_every_form_a_response_carries(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A server echoing the token URL-encoded or JSON-escaped reaches logs through third-party loggers and
    error texts; the logs mask it the way stored response text is masked."""
    import logging
    from urllib.parse import quote

    from exporter.logging_setup import configure_logging, mask_in_logs, say_error

    token = "pat/abc+def-0123-logs"
    configure_logging(log_format="text", verbosity=0)
    mask_in_logs(token)
    logging.getLogger("someone.else").warning("echo %s and %s", quote(token, safe=""), token.replace("/", "\\/"))
    say_error(f"the server said {quote(token, safe='')}")
    err = capsys.readouterr().err
    assert "echo ******** and ********" in err and "the server said ********" in err
    assert "abc%2Bdef" not in err and "pat\\/abc" not in err


def test_request_ids_are_stored_masked_and_compared_by_a_keyed_digest_of_the_raw_id(
    project, monkeypatch, capsys
) -> None:
    with echo_server(200, ECHO_ENCODINGS["url-safe base64 in Basic credentials"]) as base_url:
        result = run_export(project, base_url, SECRET, ["--batch-size", "100"], "text", monkeypatch, capsys)
    assert result.exit_code == 1, result.stderr  # every row failed by the API: its verdict, recorded
    with duckdb.connect(str(project.duckdb_path)) as con:
        stored = con.execute("select request_id, request_key from mo_export_state.acknowledgements").fetchall()
    assert len(stored) == 3 and len({key for _, key in stored}) == 3
    assert all("********" in shown and SECRET not in shown for shown, _ in stored)
