"""Export settings: the one place that reads the environment.

Precedence: command-line flags, then environment variables, then the defaults of the resource page
(`exporter.contract`). Everything is validated here, so a bad setting stops the run before anything is
read or sent, with a message that names the setting. The API token is wrapped in :class:`Secret`, which
never shows its value in a repr, a str, a log line or a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from exporter import contract
from exporter.contract import ObjectContract
from exporter.errors import ConfigError
from exporter.output_paths import check_output_path

#: Environment variables the exporter reads, by setting name.
ENVIRONMENT: dict[str, str] = {
    "api_key": "PEAK_API_KEY",
    "base_url": "PEAK_BASE_URL",
    "path_template": "PEAK_PATH_TEMPLATE",
    "solution_name": "PEAK_SOLUTION_NAME",
    "object_name": "PEAK_OBJECT_NAME",
    "duckdb_path": "MO_DUCKDB_PATH",
    "target": "MO_DBT_TARGET",
    "spark_warehouse": "MO_SPARK_WAREHOUSE",
    "state_path": "MO_STATE_PATH",
    "project_dir": "MO_DBT_PROJECT_DIR",
    "target_path": "MO_DBT_TARGET_PATH",
    "batch_size": "MO_BATCH_SIZE",
    "max_bytes": "MO_MAX_BYTES",
    "concurrency": "MO_CONCURRENCY",
    "max_rps": "MO_MAX_RPS",
    "timeout_seconds": "MO_TIMEOUT_SECONDS",
    "max_attempts": "MO_MAX_ATTEMPTS",
    "retry_budget_seconds": "MO_RETRY_BUDGET_SECONDS",
    "allow_insecure_http": "MO_ALLOW_INSECURE_HTTP",
    "ca_bundle": "MO_CA_BUNDLE",
    "max_change_share": "MO_MAX_CHANGE_SHARE",
    "max_loss_share": "MO_MAX_LOSS_SHARE",
    "memory_limit": "MO_EXPORT_MEMORY_LIMIT",
    "temp_directory": "MO_DUCKDB_TEMP_DIR",
    "ack_fields": "MO_ACK_FIELDS",
}

DEFAULT_DUCKDB_PATH = "mo_export.duckdb"
#: dbt targets the exporter can read: the DuckDB file (profile target `dev`) or the Spark build's Parquet files
DUCKDB_TARGET = "dev"
SPARK_TARGET = "spark"
TARGETS = (DUCKDB_TARGET, SPARK_TARGET)
#: where the Spark build's tables live, as in profiles.yml (relative to the directory the command runs in)
DEFAULT_SPARK_WAREHOUSE = "spark-warehouse"
#: the export state of a Spark build, in a local DuckDB file beside the project
DEFAULT_STATE_FILE = "mo_export_state.duckdb"
DEFAULT_MODEL_NAME = "peak_manufacturing_orders"
DEFAULT_STATE_SCHEMA = "mo_export_state"
#: shorter tokens are refused: masking replaces the token wherever it occurs, which is only safe for a
#: value that does not turn up in ordinary text by chance (Peak's personal access tokens are far longer)
MIN_TOKEN_LENGTH = 12


def redacted_url(url: str) -> str:
    """``url`` without its userinfo (``user:pass@``): the form in which a URL may be printed or stored."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))
    if parts is None and "@" in url:  # too malformed to parse: drop everything up to the last '@'
        scheme, sep, rest = url.partition("://")
        return f"{scheme}{sep}***@{rest.rpartition('@')[2]}" if sep else "***@" + url.rpartition("@")[2]
    return url

#: the change guard's limits (exporter.change_guard). The model keeps every order's latest version, so
#: losing orders is rare: a fifth of them gone is a vanished plant, not a normal day.
DEFAULT_MAX_CHANGE_SHARE = 0.5
DEFAULT_MAX_LOSS_SHARE = 0.2
#: DuckDB's buffer pool for the export's queries; beyond it DuckDB spills to its temp directory. The queries
#: are written to spill (exporter.decide), so this bounds the process, not the history it can handle:
#: 64 MB decided a 5 M-order history here and 128 MB a 10 M one, in a process of under 300 MB.
DEFAULT_MEMORY_LIMIT = "128MB"
#: the fields of the API's success object that count as evidence of delivery (exporter.classify). A tenant
#: whose answers carry fewer may name them (MO_ACK_FIELDS), never without ``accepted``, the field that
#: counts the rows taken.
ACK_FIELDS = ("requestId", "accepted", "failed")
_MEMORY_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


class Secret:
    """A value that must not leak: its repr and str are masked; ``reveal()`` is the only way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:  # pickling would copy the secret into places we do not control
        raise TypeError("Secret values cannot be pickled")


@dataclass(frozen=True)
class ExportSettings:
    api_key: Secret | None = field(repr=False)
    base_url: str
    path_template: str
    solution_name: str
    object_name: str
    duckdb_path: Path
    #: the dbt target that built the model: DUCKDB_TARGET or SPARK_TARGET
    target: str
    spark_warehouse: Path
    #: the DuckDB file holding the export state of a Spark build (the DuckDB target keeps it in duckdb_path)
    state_path: Path
    project_dir: Path
    target_path: Path
    model_name: str
    state_schema: str
    batch_size: int
    max_bytes: int
    concurrency: int
    max_rps: float
    timeout_seconds: float
    max_attempts: int
    retry_budget_seconds: float
    allow_insecure_http: bool
    ca_bundle: Path | None
    full_refresh: bool
    retry_rejected: bool
    dry_run: bool
    api_dry_run: bool
    payload_dir: Path | None
    results_path: Path
    show_progress: bool
    #: the change guard (exporter.change_guard): shares of the orders acknowledged before
    max_change_share: float = DEFAULT_MAX_CHANGE_SHARE
    max_loss_share: float = DEFAULT_MAX_LOSS_SHARE
    allow_large_change: bool = False
    #: `run --plan`: the reviewed plan file whose rows the run sends, exactly
    plan_path: Path | None = None
    #: DuckDB's memory limit for the export's queries (they spill beyond it) and where they spill
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    temp_directory: Path | None = None
    #: which fields of the success object must be present for an acknowledgement (ACK_FIELDS or fewer)
    ack_fields: frozenset[str] = frozenset(ACK_FIELDS)
    #: the change guard's answers for a first run next to a known destination (exporter.change_guard)
    new_tenant: bool = False
    token_rotated: bool = False
    #: PEAK_OBJECT_NAME / --object-name was given: it names the main object's destination (else its meta's)
    object_name_given: bool = False
    #: `--object MODEL`: export that object only (None: every object, parents first)
    only_object: str | None = None

    def for_object(self, obj: ObjectContract) -> ExportSettings:
        """These settings for one object. The main object (``model_name``, the manufacturing orders by
        default) keeps the names it always had: the state schema, the results file, the payload folder, and
        PEAK_OBJECT_NAME when given. Any other object has its own, suffixed with its model's name."""
        if obj.model_name == self.model_name:
            return replace(self, object_name=self.object_name if self.object_name_given else obj.object_name)
        results = self.results_path
        return replace(
            self,
            model_name=obj.model_name,
            object_name=obj.object_name,
            object_name_given=False,
            state_schema=f"{self.state_schema}__{obj.model_name}",
            results_path=results if str(results) == "-" else results.with_name(
                f"{results.stem}.{obj.model_name}{results.suffix}"),
            payload_dir=None if self.payload_dir is None else self.payload_dir / obj.model_name,
        )

    @property
    def on_spark(self) -> bool:
        return self.target == SPARK_TARGET

    @property
    def database_path(self) -> Path:
        """The DuckDB file the export opens: the warehouse itself, or for a Spark build the state file."""
        return self.state_path if self.on_spark else self.duckdb_path

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + self.path_template.format(object_name=self.object_name)

    def public_dict(self) -> dict[str, Any]:
        """The settings as recorded in results and the runs table: everything but the token."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "api_key"}
        data["api_key_set"] = bool(self.api_key)
        data["base_url"] = redacted_url(self.base_url)
        return {k: str(v) if isinstance(v, Path) else sorted(v) if isinstance(v, frozenset) else v
                for k, v in data.items()}


def duckdb_path_from_environment(environ: Mapping[str, str] | None = None) -> Path:
    """The DuckDB file every command shares (`MO_DUCKDB_PATH`), for commands that need nothing else."""
    env = os.environ if environ is None else environ
    return Path(env.get(ENVIRONMENT["duckdb_path"]) or DEFAULT_DUCKDB_PATH)


def load_settings(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ExportSettings:
    """Build validated settings from command-line ``flags`` (None = not given) and the environment."""
    env = os.environ if environ is None else environ

    def pick(name: str, default: Any = None) -> Any:
        value = flags.get(name)
        if value is not None:
            return value
        var = ENVIRONMENT.get(name)
        if var is not None and env.get(var, "").strip() != "":
            return env[var].strip()
        return default

    dry_run = bool(flags.get("dry_run"))
    api_dry_run = bool(flags.get("api_dry_run"))
    if dry_run and api_dry_run:
        raise ConfigError("--dry-run and --api-dry-run exclude each other: choose one")

    token = pick("api_key")
    api_key = Secret(str(token)) if token else None
    if api_key is None and not dry_run:
        raise ConfigError(
            f"no API token: set {ENVIRONMENT['api_key']} to your Peak personal access token "
            "(or use --dry-run to check the payloads without sending)"
        )
    if api_key is not None:
        _check_token(api_key)

    allow_insecure_http = _boolean(pick("allow_insecure_http", False), "allow_insecure_http")
    base_url = _base_url(str(pick("base_url", contract.DEFAULT_BASE_URL)), allow_insecure_http)
    path_template = str(pick("path_template", contract.DEFAULT_PATH_TEMPLATE))
    if not _is_path_template(path_template):
        raise ConfigError(
            f"path template {path_template!r} (--path-template / PEAK_PATH_TEMPLATE) must start with '/' and "
            f"contain {{object_name}} and no other {{placeholder}}, e.g. {contract.DEFAULT_PATH_TEMPLATE!r} or "
            f"{contract.ALTERNATE_PATH_TEMPLATE!r}"
        )
    object_name_given = pick("object_name") is not None
    object_name = str(pick("object_name", contract.DEFAULT_OBJECT_NAME))
    solution_name = str(pick("solution_name", contract.DEFAULT_SOLUTION_NAME))
    for label, value in (("object name", object_name), ("solution name", solution_name)):
        if not value or not all(c.isalnum() or c in "_-" for c in value):
            raise ConfigError(f"{label} {value!r} may hold only letters, digits, '_' and '-'")

    project_dir = Path(pick("project_dir", ".")).expanduser()
    target = str(pick("target", DUCKDB_TARGET))
    if target == "duckdb":
        target = DUCKDB_TARGET
    if target not in TARGETS:
        raise ConfigError(
            f"{_label('target')} {target!r} is not a target the export reads: {DUCKDB_TARGET!r} (the DuckDB file, "
            f"the default) or {SPARK_TARGET!r} (the Parquet files of `dbt build --target spark`)"
        )
    spark_warehouse = Path(pick("spark_warehouse", DEFAULT_SPARK_WAREHOUSE)).expanduser()
    state_path = Path(pick("state_path", project_dir / DEFAULT_STATE_FILE)).expanduser()
    target_path = Path(pick("target_path", project_dir / "target")).expanduser()
    batch_size = _int(
        pick("batch_size", contract.DEFAULT_ROWS_PER_REQUEST), "batch_size", 1, contract.LARGEST_ROWS_PER_REQUEST
    )
    max_bytes = _int(pick("max_bytes", contract.DEFAULT_MAX_BYTES), "max_bytes", 1024, contract.DEFAULT_MAX_BYTES * 10)
    concurrency = _int(pick("concurrency", 4), "concurrency", 1, 64)
    max_rps = _float(pick("max_rps", contract.DOCUMENTED_RATE_LIMIT_RPS), "max_rps", 0.1, 10_000)
    timeout = _float(pick("timeout_seconds", 30.0), "timeout_seconds", 0.1, 3600)
    max_attempts = _int(pick("max_attempts", 8), "max_attempts", 1, 100)
    retry_budget = _float(pick("retry_budget_seconds", 600.0), "retry_budget_seconds", 0, 86_400)
    ca_bundle_value = pick("ca_bundle")
    ca_bundle = Path(ca_bundle_value) if ca_bundle_value else None
    if ca_bundle is not None:
        _check_ca_bundle(ca_bundle)
    payload_dir_value = flags.get("payload_dir")
    payload_dir = Path(payload_dir_value) if payload_dir_value else None
    if payload_dir is not None and not dry_run:
        raise ConfigError("--payload-dir writes the payloads of a --dry-run; add --dry-run")

    max_change_share = _float(pick("max_change_share", DEFAULT_MAX_CHANGE_SHARE), "max_change_share", 0, 1)
    max_loss_share = _float(pick("max_loss_share", DEFAULT_MAX_LOSS_SHARE), "max_loss_share", 0, 1)
    plan_value = flags.get("plan_path")
    plan_path = Path(plan_value) if plan_value else None
    if plan_path is not None and (flags.get("full_refresh") or dry_run):
        raise ConfigError("--plan sends exactly the rows of a reviewed plan: it excludes --full-refresh and --dry-run")

    if flags.get("new_tenant") and flags.get("token_rotated"):
        raise ConfigError("--new-tenant and --token-rotated exclude each other: another tenant, or the same one "
                          "with a new token")
    memory_limit = str(pick("memory_limit", DEFAULT_MEMORY_LIMIT))
    if not _MEMORY_SIZE.match(memory_limit):
        raise ConfigError(
            f"{_label('memory_limit')} {memory_limit!r} must be a size such as 256MB or 1GB (DuckDB's memory_limit)"
        )
    ack_fields = _ack_fields(pick("ack_fields", ",".join(ACK_FIELDS)))
    temp_value = pick("temp_directory")
    temp_directory = Path(temp_value).expanduser() if temp_value else None

    results_path = Path(flags.get("results_path") or target_path / "export_results.json")
    check_output_path(
        results_path,
        "--results-path" if flags.get("results_path") else "the run summary (in --target-path / MO_DBT_TARGET_PATH)",
    )

    return ExportSettings(
        api_key=api_key,
        base_url=base_url,
        path_template=path_template,
        solution_name=solution_name,
        object_name=object_name,
        duckdb_path=Path(pick("duckdb_path", DEFAULT_DUCKDB_PATH)).expanduser(),
        target=target,
        spark_warehouse=spark_warehouse,
        state_path=state_path,
        project_dir=project_dir,
        target_path=target_path,
        model_name=str(flags.get("model_name") or DEFAULT_MODEL_NAME),
        state_schema=_identifier(str(flags.get("state_schema") or DEFAULT_STATE_SCHEMA), "state_schema"),
        batch_size=batch_size,
        max_bytes=max_bytes,
        concurrency=concurrency,
        max_rps=max_rps,
        timeout_seconds=timeout,
        max_attempts=max_attempts,
        retry_budget_seconds=retry_budget,
        allow_insecure_http=allow_insecure_http,
        ca_bundle=ca_bundle,
        full_refresh=bool(flags.get("full_refresh")),
        retry_rejected=bool(flags.get("retry_rejected")),
        dry_run=dry_run,
        api_dry_run=api_dry_run,
        payload_dir=payload_dir,
        results_path=results_path,
        show_progress=bool(flags.get("show_progress")),
        max_change_share=max_change_share,
        max_loss_share=max_loss_share,
        allow_large_change=bool(flags.get("allow_large_change")),
        plan_path=plan_path,
        memory_limit=memory_limit,
        temp_directory=temp_directory,
        ack_fields=ack_fields,
        new_tenant=bool(flags.get("new_tenant")),
        token_rotated=bool(flags.get("token_rotated")),
        object_name_given=object_name_given,
        only_object=_only_object(flags.get("object")),
    )


def _only_object(value: Any) -> str | None:
    if not value:
        return None
    name = str(value)
    if not all(c.isalnum() or c == "_" for c in name):
        raise ConfigError(f"--object {name!r} must name a dbt model (letters, digits and '_')")
    return name


def _base_url(value: str, allow_insecure_http: bool) -> str:
    shown = redacted_url(value)  # a password in the URL is never printed
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise ConfigError(f"base URL {shown!r} (--base-url / PEAK_BASE_URL) is malformed: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"base URL {shown!r} (--base-url / PEAK_BASE_URL) must be an absolute http(s) URL such as "
            f"{contract.DEFAULT_BASE_URL!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"base URL {shown!r} (--base-url / PEAK_BASE_URL) must not carry credentials (user:password@): "
            "the API takes the token from PEAK_API_KEY; remove them from the URL"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"base URL {shown!r} must not carry a query or fragment")
    if parts.scheme == "http" and not _is_loopback(host) and not allow_insecure_http:
        raise ConfigError(
            f"base URL {shown!r} uses plain http to a non-loopback host: the token would travel unencrypted. "
            "Use https, or pass --allow-insecure-http (MO_ALLOW_INSECURE_HTTP=1) if you really mean it."
        )
    return value.rstrip("/")


def _check_ca_bundle(path: Path) -> None:
    """Load the bundle once now, so a wrong file is a setting error rather than a crash at the first request."""
    if not path.is_file():
        raise ConfigError(f"CA bundle {path} (--ca-bundle / MO_CA_BUNDLE) is not a readable file")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"CA bundle {path} (--ca-bundle / MO_CA_BUNDLE) holds no usable PEM certificate ({exc}): point it "
            "at the PEM file of the CA that signed the API's certificate"
        ) from None


def _is_path_template(value: str) -> bool:
    """Starts with '/', names ``{object_name}`` and nothing else ``str.format`` would try to fill."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError:  # an unmatched brace
        return False
    return value.startswith("/") and names == {"object_name"}


def _check_token(api_key: Secret) -> None:
    """Refuse a token that cannot travel in an ``Authorization`` header, without ever showing it.

    Caught here because the HTTP layer would otherwise fail on each request with an error that quotes the
    header, token included (a line break), or crash (non-ASCII), after the run has begun.
    """
    value = api_key.reveal()
    var = ENVIRONMENT["api_key"]
    if value[:7].lower() == "bearer ":
        raise ConfigError(
            f"{var} starts with 'Bearer ': the ingestion API takes the bare token; remove the prefix"
        )
    bad = next((i for i, c in enumerate(value) if not "!" <= c <= "~"), None)
    if bad is not None:
        raise ConfigError(
            f"{var} holds a character a token cannot have at position {bad + 1} of {len(value)} (a space, "
            "line break, control or non-ASCII character): copy the personal access token again, without "
            "quotes or line breaks"
        )
    if len(value) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{var} holds only {len(value)} characters; a personal access token has at least {MIN_TOKEN_LENGTH}: "
            "copy the whole token again"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ack_fields(value: Any) -> frozenset[str]:
    names = frozenset(part.strip() for part in str(value).split(",") if part.strip())
    unknown = sorted(names - set(ACK_FIELDS))
    if unknown or "accepted" not in names:
        raise ConfigError(
            f"{_label('ack_fields')} {value!r} must name fields of the API's success object among "
            f"{', '.join(ACK_FIELDS)}, with accepted (the count of the rows taken) among them"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    return names


def _int(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{_label(name)} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{_label(name)} must be between {low} and {high}, got {number}" + _limit_hint(name))
    return number


def _float(value: Any, name: str, low: float, high: float) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{_label(name)} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{_label(name)} must be between {low:g} and {high:g}, got {number:g}")
    return number


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off", ""):
        return False
    raise ConfigError(f"{_label(name)} must be true or false, got {value!r}")


def _identifier(value: str, name: str) -> str:
    if not value.replace("_", "a").isalnum() or value[0].isdigit():
        raise ConfigError(f"{_label(name)} {value!r} must be a plain SQL identifier (letters, digits, '_')")
    return value


#: Settings whose command-line flag is not the setting's name with dashes.
_FLAGS = {"timeout_seconds": "--timeout", "retry_budget_seconds": "--retry-budget"}


def _label(name: str) -> str:
    flag = _FLAGS.get(name) or "--" + name.replace("_", "-")
    var = ENVIRONMENT.get(name)
    return f"{flag} ({var})" if var else flag


def _limit_hint(name: str) -> str:
    if name == "batch_size":
        return (
            f": the ingestion API takes at most {contract.LARGEST_ROWS_PER_REQUEST} rows per request (the resource "
            f"page says {contract.DEFAULT_ROWS_PER_REQUEST}, the default; more only where the tenant allows it)"
        )
    return ""
