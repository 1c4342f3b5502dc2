"""compose.yaml's wiring (Docker is not needed to read it): the application goes through PgBouncer as
bpo_app with the statement cache off, migrations go straight to PostgreSQL as the owner, and nothing
starts before the schema and its dependencies are ready."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.support.paths import REPO

APP_PROCESSES = ("api", "worker", "scheduler")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return loaded


def interpolated(value: str) -> str:
    """What compose makes of ``${NAME:-default}`` with nothing set."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_app_processes_use_pgbouncer_as_the_app_role_and_migrations_the_owner(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in (*APP_PROCESSES, "migrate"):
        env = services[name]["environment"]
        app = make_url(interpolated(env["BPO_DATABASE_URL"]))
        assert (app.username, app.host, app.port) == ("bpo_app", "pgbouncer", 6432), name
        assert env["BPO_DATABASE_STATEMENT_CACHE"] == "false", name
        owner = make_url(interpolated(env["BPO_MIGRATION_DATABASE_URL"]))
        assert (owner.host, owner.port) == ("postgres", 5432), name
        assert owner.username == services["postgres"]["environment"]["POSTGRES_USER"]

    # PgBouncer's user list holds the very password of BPO_DATABASE_URL (which `bpo migrate` sets).
    userlist = interpolated(compose["configs"]["pgbouncer-userlist"]["content"])
    app_password = make_url(interpolated(services["api"]["environment"]["BPO_DATABASE_URL"])).password
    assert userlist.strip() == f'"bpo_app" "{app_password}"'
    ini = (REPO / "infra" / "pgbouncer" / "pgbouncer.ini").read_text()
    assert re.search(r"^pool_mode = transaction$", ini, re.MULTILINE)
    assert not re.search(r"^ignore_startup_parameters = .*\brole\b", ini, re.MULTILINE)


def test_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["pgbouncer"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APP_PROCESSES:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["pgbouncer"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    for name in ("postgres", "redis", "pgbouncer", "api"):
        assert "test" in services[name]["healthcheck"], f"{name} has no health check"
