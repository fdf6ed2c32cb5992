"""Settings: flags over environment over defaults, validation messages that name the setting, no leaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.errors import ConfigError
from exporter.settings import Secret, load_settings, redacted_url

TOKEN = "pat-very-secret-123"


def settings(flags: dict | None = None, env: dict | None = None):
    return load_settings(flags or {}, {"PEAK_API_KEY": TOKEN, **(env or {})})


def test_defaults_come_from_the_resource_page() -> None:
    s = settings()
    assert s.endpoint == (
        "https://service.peak.ai/ingestion-api/api/v2/ingest/object/INV_MANUFACTURING_ORDERS_OOTB"
    )
    assert (s.solution_name, s.batch_size, s.max_bytes, s.concurrency, s.max_rps) == ("INV_OOTB", 500, 1_000_000, 4, 50)
    assert s.duckdb_path == Path("mo_export.duckdb")
    assert s.results_path == Path("target/export_results.json")


def test_flags_override_environment_which_overrides_defaults() -> None:
    env = {"PEAK_BASE_URL": "https://ingestion.peak.ai", "MO_BATCH_SIZE": "200", "MO_CONCURRENCY": "2"}
    s = settings({"concurrency": 8, "path_template": "/api/v2/objects/{object_name}"}, env)
    assert s.endpoint == "https://ingestion.peak.ai/api/v2/objects/INV_MANUFACTURING_ORDERS_OOTB"
    assert (s.batch_size, s.concurrency) == (200, 8)


def test_token_never_appears_in_repr_str_or_public_dict() -> None:
    s = settings()
    assert TOKEN not in repr(s)
    assert TOKEN not in str(s.api_key)
    assert TOKEN not in str(s.public_dict())
    assert s.public_dict()["api_key_set"] is True
    assert s.api_key is not None and s.api_key.reveal() == TOKEN


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_or_empty_token_is_a_configuration_error(token: str | None) -> None:
    env = {} if token is None else {"PEAK_API_KEY": token}
    with pytest.raises(ConfigError, match="PEAK_API_KEY"):
        load_settings({}, env)


def test_dry_run_needs_no_token() -> None:
    assert load_settings({"dry_run": True}, {}).api_key is None


def test_batch_size_over_the_api_limit_is_refused_with_the_limit_named() -> None:
    with pytest.raises(ConfigError, match=r"--batch-size \(MO_BATCH_SIZE\) must be between 1 and 2000.*at most 2000"):
        settings({"batch_size": 2001})


def test_batch_size_defaults_to_500_and_takes_up_to_2000() -> None:
    assert settings({}).batch_size == 500
    assert settings({"batch_size": 2000}).batch_size == 2000


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "must be an absolute http"),
        ("ftp://example.com", "must be an absolute http"),
        ("https://", "must be an absolute http"),
        ("https://example.com:99999", "malformed"),
        ("https://user:pw@example.com", "must not carry"),
        ("http://ingestion.peak.ai", "plain http to a non-loopback host"),
    ],
)
def test_malformed_or_insecure_base_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings({"base_url": url})


def test_plain_http_is_allowed_for_loopback_and_when_opted_in() -> None:
    assert settings({"base_url": "http://127.0.0.1:8080"}).base_url == "http://127.0.0.1:8080"
    assert settings({"base_url": "http://localhost:1/"}).base_url == "http://localhost:1"
    opted = settings({"base_url": "http://ingestion.internal"}, {"MO_ALLOW_INSECURE_HTTP": "1"})
    assert opted.base_url == "http://ingestion.internal"


def test_path_template_must_name_the_object() -> None:
    with pytest.raises(ConfigError, match="object_name"):
        settings({"path_template": "/api/v2/ingest"})


def test_non_numeric_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"MO_CONCURRENCY.*whole number.*'four'"):
        settings(env={"MO_CONCURRENCY": "four"})


def test_secret_cannot_be_pickled_into_other_processes_or_caches() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret(TOKEN))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:hunter2@example.com/x", "https://***@example.com/x"),
        ("https://hunter2@example.com:8443", "https://***@example.com:8443"),
        ("https://a:b@c@example.com", "https://***@example.com"),
        ("http://[::1:80@x", "http://***@x"),  # too malformed to parse: still no userinfo
        ("https://example.com/a@b", "https://example.com/a@b"),  # an '@' in the path is not userinfo
        ("https://example.com", "https://example.com"),
    ],
)
def test_redacted_url_drops_the_userinfo_and_nothing_else(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def test_a_base_url_with_credentials_is_refused_without_showing_them() -> None:
    with pytest.raises(ConfigError, match="must not carry credentials") as caught:
        settings({"base_url": "https://user:hunter2@example.com"})
    assert "hunter2" not in str(caught.value) and "'https://***@example.com'" in str(caught.value)


def test_a_token_too_short_to_mask_safely_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"PEAK_API_KEY holds only 3 characters; .* has at least 12"):
        load_settings({}, {"PEAK_API_KEY": "abc"})
    assert load_settings({}, {"PEAK_API_KEY": "a" * 12}).api_key is not None


def test_duckdb_target_exports_from_the_warehouse_file_and_keeps_the_state_there() -> None:
    duck = settings(env={"MO_DUCKDB_PATH": "/data/wh.duckdb", "MO_STATE_PATH": "/data/state.duckdb"})
    assert duck.target == "dev"
    assert not duck.on_spark
    assert duck.database_path == Path("/data/wh.duckdb")


def test_spark_target_keeps_the_state_in_its_own_file_beside_the_project_by_default() -> None:
    spark = settings({"target": "spark", "project_dir": "/srv/mo"})
    assert spark.on_spark
    assert spark.database_path == Path("/srv/mo/mo_export_state.duckdb")
    assert spark.spark_warehouse == Path("spark-warehouse")
    chosen = settings(env={"MO_DBT_TARGET": "spark", "MO_STATE_PATH": "/var/state.duckdb",
                            "MO_SPARK_WAREHOUSE": "/lake/wh"})
    assert chosen.database_path == Path("/var/state.duckdb")
    assert chosen.spark_warehouse == Path("/lake/wh")


def test_unknown_target_is_refused_with_the_targets_named() -> None:
    with pytest.raises(ConfigError, match=r"--target \(MO_DBT_TARGET\) 'snowflake'.*'dev'.*'spark'"):
        settings({"target": "snowflake"})
