"""Configuration fails early and says which variable is wrong; the CLI turns that into exit code 2."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bpo.settings import SettingsError, load_settings
from tests.support.processes import BPO


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A process environment with no BPO_ variables but the ones a test sets."""
    for name in os.environ:
        if name.startswith("BPO_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_load(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()

    assert settings.environment == "development"
    assert settings.embedded_database
    assert settings.embedded_redis


def test_an_unknown_variable_is_rejected_by_name(env: pytest.MonkeyPatch) -> None:
    env.setenv("BPO_FOO", "1")
    env.setenv("BPO_DATABASE_URL", "postgresql://db.example/bpo")

    with pytest.raises(SettingsError, match="BPO_FOO") as raised:
        load_settings()
    assert "BPO_DATABASE_URL" not in str(raised.value)


def test_a_misspelt_variable_is_rejected_not_ignored(env: pytest.MonkeyPatch) -> None:
    env.setenv("BPO_DATABSE_URL", "postgresql://db.example/bpo")

    with pytest.raises(SettingsError, match="BPO_DATABSE_URL"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BPO_DATABASE_URL", "mysql://db.example/bpo"),
        ("BPO_MIGRATION_DATABASE_URL", "sqlite:///bpo.db"),
        ("BPO_REDIS_URL", "memcached://cache.example"),
        ("BPO_LOG_LEVEL", "LOUD"),
        ("BPO_LOG_FORMAT", "xml"),
        ("BPO_PORT", "99999"),
        ("BPO_PORT", "eighty"),
        ("BPO_ENVIRONMENT", "staging"),
        ("BPO_MAX_BODY_BYTES", "10"),
        ("BPO_ACCESS_TOKEN_TTL_SECONDS", "0"),
        ("BPO_WEB_SESSION_IDLE_SECONDS", "10"),
        ("BPO_WEB_SESSION_MAX_SECONDS", "31536000"),
    ],
)
def test_an_invalid_value_is_rejected_naming_the_variable(
    env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    env.setenv(name, value)

    with pytest.raises(SettingsError) as raised:
        load_settings()

    reason = str(raised.value)
    assert name in reason
    assert "\n" not in reason


def test_valid_values_are_accepted(env: pytest.MonkeyPatch) -> None:
    env.setenv("BPO_DATABASE_URL", "postgres://app@db.example:5432/bpo")
    env.setenv("BPO_REDIS_URL", "unix:///run/redis.sock")
    env.setenv("BPO_LOG_LEVEL", "debug")
    env.setenv("BPO_PORT", "65535")

    settings = load_settings()

    assert settings.log_level == "DEBUG"
    assert settings.port == 65535
    assert not settings.embedded_database


def test_the_web_session_lasts_30_minutes_idle_and_12_hours_at_most(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.web_session_idle_seconds, settings.web_session_max_seconds) == (1_800, 43_200)

    env.setenv("BPO_WEB_SESSION_IDLE_SECONDS", "3600")
    env.setenv("BPO_WEB_SESSION_MAX_SECONDS", "28800")
    settings = load_settings()
    assert (settings.web_session_idle_seconds, settings.web_session_max_seconds) == (3_600, 28_800)


def test_the_web_session_idle_timeout_cannot_exceed_its_lifetime(env: pytest.MonkeyPatch) -> None:
    env.setenv("BPO_WEB_SESSION_IDLE_SECONDS", "7200")
    env.setenv("BPO_WEB_SESSION_MAX_SECONDS", "3600")

    with pytest.raises(SettingsError, match="BPO_WEB_SESSION_IDLE_SECONDS") as raised:
        load_settings()
    assert "\n" not in str(raised.value)


def test_the_log_format_is_unset_by_default(env: pytest.MonkeyPatch) -> None:
    assert load_settings().log_format is None


@pytest.mark.parametrize(
    ("value", "expected"), [("console", "console"), ("JSON", "json"), (" json ", "json")]
)
def test_the_log_format_is_console_or_json(env: pytest.MonkeyPatch, value: str, expected: str) -> None:
    env.setenv("BPO_LOG_FORMAT", value)

    assert load_settings().log_format == expected


def test_an_empty_log_format_is_unset(env: pytest.MonkeyPatch) -> None:
    env.setenv("BPO_LOG_FORMAT", "")

    assert load_settings().log_format is None


def test_production_requires_a_secret_key(env: pytest.MonkeyPatch) -> None:
    env.setenv("BPO_ENVIRONMENT", "production")
    env.setenv("BPO_DATABASE_URL", "postgresql://app@db.example/bpo")
    env.setenv("BPO_REDIS_URL", "redis://cache.example:6379/0")

    with pytest.raises(SettingsError, match="BPO_SECRET_KEY"):
        load_settings()
    env.setenv("BPO_SECRET_KEY", "")
    with pytest.raises(SettingsError, match="BPO_SECRET_KEY"):
        load_settings()

    env.setenv("BPO_SECRET_KEY", "s" * 48)
    assert load_settings().environment == "production"


def test_production_names_every_missing_setting(env: pytest.MonkeyPatch) -> None:
    env.setenv("BPO_ENVIRONMENT", "production")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    for name in ("BPO_DATABASE_URL", "BPO_REDIS_URL", "BPO_SECRET_KEY"):
        assert name in str(raised.value)


def test_the_cli_exits_2_with_a_one_line_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BPO_")}
    env["BPO_FOO"] = "1"

    result = subprocess.run(
        [str(BPO), "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "BPO_FOO" in lines[0]
    assert lines[0].startswith("error:")
    # It stopped at the configuration: nothing was started or created.
    assert list(tmp_path.iterdir()) == []


def test_the_cli_names_an_invalid_value(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BPO_")}
    env["BPO_DATABASE_URL"] = "mysql://db.example/bpo"

    result = subprocess.run(
        [str(BPO), "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "BPO_DATABASE_URL" in lines[0]
