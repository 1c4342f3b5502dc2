"""Secrets never reach logs: not under secret-looking keys, not inside free text, not in the paths and
query strings of request lines (by the route's secret parameter, whatever the request), not from a real
server handling logins, tokens, API keys and calendar feeds, and never in a metric's labels."""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from bpo.core.logging import (
    SECRET_PARAMETERS,
    configure_logging,
    is_secret_parameter,
    log_format,
    redact_path,
    redact_secrets,
    redact_target,
)
from bpo.core.runtime import Runtime
from bpo.settings import Settings
from tests.support.factories import PASSWORD, create_api_key, create_tenant
from tests.support.processes import BPO, free_port
from tests.support.staffing import staff_login


def api_key_like() -> str:
    """The shape of a real key: ``bpo_<tenant hex>_<urlsafe secret>`` (the secret may contain ``_``)."""
    return f"bpo_{uuid.uuid4().hex}_{secrets.token_urlsafe(32)}_x"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state that the session's server also uses: put it back."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


class TestFormat:
    @pytest.mark.parametrize("tty", [True, False])
    def test_unset_is_json_for_a_process_nobody_watches(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch, tty: bool
    ) -> None:
        monkeypatch.setattr("sys.stderr.isatty", lambda: tty)

        assert log_format(settings.model_copy(update={"log_format": None})) == "json"

    @pytest.mark.parametrize(("tty", "expected"), [(True, "console"), (False, "json")])
    def test_unset_follows_the_terminal_when_watched(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch, tty: bool, expected: str
    ) -> None:
        monkeypatch.setattr("sys.stderr.isatty", lambda: tty)

        assert log_format(settings.model_copy(update={"log_format": None}), watched=True) == expected

    @pytest.mark.parametrize("configured", ["console", "json"])
    def test_a_configured_format_wins(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch, configured: str
    ) -> None:
        monkeypatch.setattr("sys.stderr.isatty", lambda: configured == "json")

        assert log_format(settings.model_copy(update={"log_format": configured}), watched=True) == configured

    @pytest.mark.usefixtures("restore_logging")
    @pytest.mark.parametrize(("configured", "json_lines"), [("console", False), ("json", True), (None, True)])
    def test_the_renderer_follows_the_format(
        self, settings: Settings, capsys: pytest.CaptureFixture[str], configured: str | None, json_lines: bool
    ) -> None:
        configure_logging(settings.model_copy(update={"log_level": "INFO", "log_format": configured}))

        structlog.get_logger("bpo.test").info("format_probe", tenant="acme")
        logging.getLogger("some.library").warning("library_probe")

        lines = [line for line in capsys.readouterr().err.splitlines() if "probe" in line]
        assert len(lines) == 2, lines
        for line in lines:
            if json_lines:
                assert json.loads(line)["event"] in {"format_probe", "library_probe"}
            else:
                assert not line.startswith("{"), line
                assert "probe" in line


def test_redact_secrets_masks_keys_and_text() -> None:
    key, token, jwt = api_key_like(), secrets.token_hex(16), "abc.def.ghi"
    event = {
        "event": f"retrying with Bearer {jwt} and {key}",
        "password": "hunter2-hunter2",
        "new_password": "correct-horse",
        "authorization": f"Bearer {jwt}",
        "refresh_token": token,
        "x_api_key": key,
        "Cookie": "session=abc",
        "note": f"header was 'authorization: bearer {jwt}'",
        "user": "alice@example.com",
        "count": 3,
    }

    redacted = dict(redact_secrets(None, "info", dict(event)))

    for field in ("password", "new_password", "authorization", "refresh_token", "x_api_key", "Cookie"):
        assert redacted[field] == "[redacted]"
    assert redacted["user"] == "alice@example.com"
    assert redacted["count"] == 3
    text = json.dumps(redacted)
    for secret in (jwt, key, key.split("_", 2)[2], token, "hunter2", "correct-horse", "session=abc"):
        assert secret not in text, secret
    assert "Bearer [redacted]" in redacted["event"]


def test_redact_secrets_reaches_into_nested_values() -> None:
    key = api_key_like()
    event = {
        "event": "outbound call",
        "headers": {"Authorization": "Bearer abc.def", "Accept": "application/json"},
        "attempts": [{"token": "t0k3n"}, f"used {key}"],
    }

    text = json.dumps(dict(redact_secrets(None, "info", event)))

    for secret in ("abc.def", "t0k3n", key.split("_", 2)[2]):
        assert secret not in text, secret
    assert "application/json" in text


@pytest.mark.parametrize("log_format", ["json", "console"])
@pytest.mark.usefixtures("restore_logging")
def test_configured_logging_writes_no_secrets_to_stderr(
    settings: Settings, capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    configure_logging(settings.model_copy(update={"log_level": "DEBUG", "log_format": log_format}))
    key, token = api_key_like(), secrets.token_urlsafe(24)

    structlog.get_logger("bpo.test").info(
        "login attempt with Bearer xyz.secret.jwt from a script using " + key,
        password="hunter2-hunter2",
        authorization="Bearer abc.def",
        token=token,
        tenant="acme",
    )
    logging.getLogger("some.library").warning("sent Authorization: Bearer lib.secret.jwt with %s", key)

    err = capsys.readouterr().err
    # The lines were written (so the assertions below are about redaction, not silence)…
    assert "login attempt" in err
    assert "acme" in err
    assert "some.library" in err
    # …without a single secret.
    for secret in ("hunter2", "abc.def", token, "xyz.secret.jwt", "lib.secret.jwt", key.split("_", 2)[2]):
        assert secret not in err, secret


class ServedProcess:
    """``bpo serve`` in a subprocess on the test database, logging at DEBUG to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [str(BPO), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            cwd=log.parent,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("bpo serve did not start:\n" + self.log.read_text())

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()
        return self.log.read_text()


@pytest.fixture
def served(worker_env: dict[str, str], tmp_path: Path) -> Iterator[ServedProcess]:
    env = {
        **worker_env,
        "BPO_LOG_LEVEL": "DEBUG",
        "BPO_LOG_FORMAT": "json",
        # Every test's logins count against 127.0.0.1 in the shared Redis.
        "BPO_LOGIN_ATTEMPTS_PER_IP": "1000000",
    }
    server = ServedProcess(env, tmp_path / "server.log")
    try:
        server.wait_ready()
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()


async def test_a_server_logs_no_passwords_tokens_or_keys(
    client: httpx.AsyncClient, served: ServedProcess
) -> None:
    """The session's server shares this process, and its logger holds the stream pytest had installed
    when the server started, at WARNING: neither capsys nor capfd sees it. So this runs the real
    ``bpo serve`` at DEBUG with its output in a file, drives it over HTTP, and reads the whole log."""
    tenant = await create_tenant(client)
    api_key = (await create_api_key(client, tenant))["key"]
    wrong_password = f"wrong-{uuid.uuid4().hex}"
    secrets_sent = [wrong_password, PASSWORD, api_key, api_key.split("_", 2)[2]]

    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        failed = await http.post(
            "/v1/auth/token",
            json={"tenant": tenant.slug, "email": tenant.admin_email, "password": wrong_password},
        )
        assert failed.status_code == 401, failed.text
        unknown = await http.post(
            "/v1/auth/token",
            json={"tenant": tenant.slug, "email": "nobody@x.example", "password": wrong_password},
        )
        assert unknown.status_code == 401, unknown.text
        invalid = await http.post(
            "/v1/auth/token",
            json={"tenant": tenant.slug, "email": "not-an-email", "password": wrong_password},
        )
        assert invalid.status_code == 422, invalid.text
        login = await http.post(
            "/v1/auth/token", json={"tenant": tenant.slug, "email": tenant.admin_email, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        tokens = login.json()
        refreshed = await http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        secrets_sent += [
            tokens["access_token"],
            tokens["refresh_token"],
            refreshed.json()["access_token"],
            refreshed.json()["refresh_token"],
        ]
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await http.get("/v1/me", headers=bearer)).status_code == 200
        assert (await http.get("/v1/nope", headers=bearer)).status_code == 404
        tampered = tokens["access_token"][:-4] + "AAAA"
        secrets_sent.append(tampered)
        assert (await http.get("/v1/me", headers={"Authorization": f"Bearer {tampered}"})).status_code == 401
        assert (await http.get("/v1/whoami", headers={"X-API-Key": api_key})).status_code == 200
        assert (
            await http.get("/v1/whoami", headers={"Authorization": f"Bearer {api_key}"})
        ).status_code == 200
        revoked_key = api_key[:-4] + "AAAA"
        secrets_sent.append(revoked_key)
        assert (await http.get("/v1/whoami", headers={"X-API-Key": revoked_key})).status_code == 401

    log = served.stop()

    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests: list[dict[str, Any]] = [r for r in records if r.get("event") == "request"]
    # The server did log every request (the capture works), just not what was in them.
    assert len([r for r in requests if r["path"] == "/v1/auth/token"]) == 4, log
    assert {r["status"] for r in requests} >= {200, 401, 404, 422}
    for secret in secrets_sent:
        assert secret not in log, secret


# --- request lines: secret path and query parameters ----------------------------------------------

# Not shaped like any token, so only the route's shape can tell it is one.
FEED_VALUE = "s3cr3t-feed-value.ics"


@pytest.mark.usefixtures("server")  # the app is built, so its routes are known
@pytest.mark.parametrize(
    "path",
    [
        f"/v1/calendar/{FEED_VALUE}",
        f"/v1/calendar/{FEED_VALUE}/",
        f"//v1//calendar//{FEED_VALUE}",
        f"/V1/Calendar/{FEED_VALUE}",
        f"/behind/a/prefix/v1/calendar/{FEED_VALUE}",
    ],
)
def test_a_secret_path_parameter_is_redacted_by_the_routes_shape(path: str) -> None:
    redacted = redact_path(path)

    assert FEED_VALUE not in redacted
    assert redacted.rstrip("/").endswith("/[redacted]")


@pytest.mark.usefixtures("server")
@pytest.mark.parametrize(
    "path",
    [
        "/v1/calendar",
        f"/v1/calendar/{FEED_VALUE}/more",
        "/v1/me/calendar-feed",
        "/v1/clients/68eae836-0666-4fb7-9418-ffda6885d56e",
    ],
)
def test_paths_of_other_shapes_are_logged_as_they_are(path: str) -> None:
    assert redact_path(path) == path


def test_token_shaped_values_are_masked_wherever_they_are() -> None:
    feed = f"cal_{uuid.uuid4().hex}_{secrets.token_urlsafe(32)}"
    refresh = f"rt_{uuid.uuid4().hex}_{secrets.token_urlsafe(32)}"

    redacted = redact_path(f"/v1/calendar/{feed}.ics/unrouted/{refresh}/{api_key_like()}")

    assert redacted.count("[redacted]") == 3, redacted
    assert secrets_absent(redacted, feed.split("_", 2)[2], refresh.split("_", 2)[2])


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("token", True),
        ("refresh_token", True),
        ("access_token", True),
        ("password", True),
        ("api_key", True),
        ("X-Api-Key", True),
        ("client_secret", True),
        *((name, True) for name in sorted(SECRET_PARAMETERS)),
        ("api_key_id", False),
        ("limit", False),
        ("cursor", False),
        ("from", False),
    ],
)
def test_secret_parameter_names(name: str, secret: bool) -> None:
    assert is_secret_parameter(name) is secret


@pytest.mark.usefixtures("server")
def test_a_request_target_loses_secret_path_and_query_values() -> None:
    target = (
        f"/v1/calendar/{FEED_VALUE}?token=t0k3n&limit=5&api_key=k3y&Refresh_Token=r3fr3sh&signature=s1g&x"
    )

    redacted = redact_target(target)

    assert redacted == (
        "/v1/calendar/[redacted]?token=[redacted]&limit=5&api_key=[redacted]&Refresh_Token=[redacted]"
        "&signature=[redacted]&x"
    )


@pytest.mark.usefixtures("restore_logging", "server")
def test_uvicorns_access_records_are_redacted_like_ours(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bpo serve`` runs uvicorn without its access log and ``configure_logging`` quiets it; should it
    be switched on (``uvicorn --factory bpo.asgi:create``, a lower level), its lines are redacted too."""
    configure_logging(settings.model_copy(update={"log_level": "INFO", "log_format": "json"}))
    access = logging.getLogger("uvicorn.access")
    access.setLevel(logging.INFO)
    try:
        # As uvicorn's protocols log each request.
        access.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:50000",
            "GET",
            f"/v1/calendar/{FEED_VALUE}?token=t0k3n&limit=5",
            "1.1",
            200,
        )
    finally:
        access.setLevel(logging.WARNING)

    (line,) = [line for line in capsys.readouterr().err.splitlines() if "HTTP/1.1" in line]
    assert json.loads(line)["event"] == (
        '127.0.0.1:50000 - "GET /v1/calendar/[redacted]?token=[redacted]&limit=5 HTTP/1.1" 200'
    )


def secrets_absent(text: str, *values: str) -> bool:
    return not [value for value in values if value in text]


async def test_a_server_logs_no_feed_tokens_and_labels_metrics_by_route(
    client: httpx.AsyncClient, runtime: Runtime, served: ServedProcess
) -> None:
    """The calendar feed's token is its URL: the real ``bpo serve`` is sent it in every way a client
    might (routed, with the wrong method, unroutable, with slashes the router forgives, in the query),
    and neither its log nor its metrics show it."""
    tenant = await create_tenant(client)
    _, staff = await staff_login(client, runtime, tenant, "Aiko Mori")
    created = await client.post("/v1/me/calendar-feed", headers=staff)
    assert created.status_code == 201, created.text
    path = httpx.URL(created.json()["url"]).path
    token = path.removeprefix("/v1/calendar/").removesuffix(".ics")
    assert token.startswith("cal_")
    secret_part = token.split("_", 2)[2]

    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        assert (await http.get(path)).status_code == 200
        assert (await http.get(path + "/")).status_code == 200
        assert (await http.get(path, params={"token": token})).status_code == 200
        assert (await http.get("/" + path.replace("/", "//"))).status_code == 200
        assert (await http.post(path)).status_code == 405
        assert (await http.get(f"/v1/calendar/{token}")).status_code == 404
        assert (await http.get(f"{path}/more")).status_code == 404
        metrics = (await http.get("/metrics")).text

    log = served.stop()

    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    feed_requests = [r for r in records if r.get("event") == "request" and "calendar" in r["path"]]
    # Every request was logged (so the capture works), none with the token.
    assert len(feed_requests) == 7, log
    assert {r["route"] for r in feed_requests} == {"/v1/calendar/{feed}", "unmatched"}
    assert all("[redacted]" in r["path"] for r in feed_requests), feed_requests
    assert secrets_absent(log, token, secret_part)
    # Metrics name the route's template, never the path.
    assert 'route="/v1/calendar/{feed}"' in metrics
    assert secrets_absent(metrics, token, secret_part)
