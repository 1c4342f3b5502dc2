"""The ``bpo`` command, run as operators run it: a subprocess with only BPO_ variables for configuration."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import uuid
from pathlib import Path

import httpx
import msgspec
import pytest

from bpo.settings import Settings
from bpo.tenancy.schemas import TenantCreate
from tests.support.factories import PASSWORD, create_tenant, create_user, headers_for, login
from tests.support.jobs import eventually
from tests.support.processes import BPO, command_env

COMMANDS = {"dev", "serve", "migrate", "worker", "scheduler", "tenants"}


def bpo(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BPO), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    return command_env(settings)


def listed_commands(help_text: str) -> set[str]:
    """Command names in the help's command table (lines like ``│ migrate    Bring the…``)."""
    return {m[1] for m in re.finditer(r"^[│|]?\s+([a-z][a-z-]*)\s{2,}\S", help_text, re.MULTILINE)}


def test_help_lists_every_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BPO_")}

    result = bpo("--help", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert listed_commands(result.stdout) >= COMMANDS, result.stdout


def test_tenants_help_lists_create(tmp_path: Path) -> None:
    result = bpo("tenants", "--help", env=dict(os.environ), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "create" in listed_commands(result.stdout), result.stdout


async def test_tenants_create_prints_a_one_time_password_that_logs_in(
    client: httpx.AsyncClient, cli_env: dict[str, str], tmp_path: Path
) -> None:
    slug = f"cli-{uuid.uuid4().hex[:10]}"
    email = f"Owner@{slug}.example"

    result = bpo(
        "tenants", "create", "--slug", slug, "--name", "CLI Operator", "--admin-email", email,
        env=cli_env, cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert slug in result.stdout
    match = re.search(r"^one-time admin password: (\S+)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    password = match[1]
    assert password not in result.stderr
    tokens = await login(client, slug, email.lower(), password)
    me = await client.get("/v1/me", headers=headers_for(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["tenant"] == slug
    assert me.json()["tenant_name"] == "CLI Operator"
    assert me.json()["user"]["role"] == "admin"


async def test_tenants_create_with_a_given_password_prints_none(
    client: httpx.AsyncClient, cli_env: dict[str, str], tmp_path: Path
) -> None:
    slug = f"cli-{uuid.uuid4().hex[:10]}"
    password = f"chosen-{uuid.uuid4().hex}"

    result = bpo(
        "tenants", "create", "--slug", slug, "--name", "N", "--admin-email", f"a@{slug}.example",
        "--admin-password", password, env=cli_env, cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "password" not in result.stdout
    assert password not in result.stdout + result.stderr
    await login(client, slug, f"a@{slug}.example", password)


def test_tenants_create_twice_fails_with_a_one_line_reason(cli_env: dict[str, str], tmp_path: Path) -> None:
    slug = f"cli-{uuid.uuid4().hex[:10]}"
    args = ("tenants", "create", "--slug", slug, "--name", "N", "--admin-email", f"a@{slug}.example")
    assert bpo(*args, env=cli_env, cwd=tmp_path).returncode == 0

    again = bpo(*args, env=cli_env, cwd=tmp_path)

    assert again.returncode != 0
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1, again.stderr
    assert slug in lines[0]
    assert "already exists" in lines[0]
    assert "Traceback" not in again.stderr
    assert "password" not in again.stdout


@pytest.mark.parametrize(
    ("option", "value"), [("--slug", "Not A Slug"), ("--slug", "-dash-"), ("--admin-email", "nobody")]
)
def test_tenants_create_rejects_invalid_input_with_exit_2(
    cli_env: dict[str, str], tmp_path: Path, option: str, value: str
) -> None:
    options = {"--slug": f"cli-{uuid.uuid4().hex[:10]}", "--name": "N", "--admin-email": "a@b.example"}
    options[option] = value
    with pytest.raises(msgspec.ValidationError) as expected:
        msgspec.convert({k.removeprefix("--").replace("-", "_"): v for k, v in options.items()}, TenantCreate)

    result = bpo("tenants", "create", *itertools.chain(*options.items()), env=cli_env, cwd=tmp_path)

    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    # The reason is shown as written, on one line: rich must neither wrap it nor eat the [a-z0-9] of a
    # pattern as markup.
    assert str(expected.value) in lines[0]
    assert option.removeprefix("--").replace("-", "_") in lines[0]


def admin_password_of(stdout: str) -> str:
    match = re.search(r"^one-time admin password: (\S+)$", stdout, re.MULTILINE)
    assert match, stdout
    return match[1]


async def test_tenants_admin_gives_a_locked_out_admin_a_new_password_and_ends_the_old_tokens(
    client: httpx.AsyncClient, cli_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    tenant = await create_tenant(client)
    for _ in range(settings.login_lockout_failures):
        await client.post(
            "/v1/auth/token",
            json={"tenant": tenant.slug, "email": tenant.admin_email, "password": "not-it-1234"},
        )
    locked = await client.post(
        "/v1/auth/token", json={"tenant": tenant.slug, "email": tenant.admin_email, "password": PASSWORD}
    )
    assert locked.status_code == 429, locked.text

    result = bpo(
        "tenants", "admin", "--slug", tenant.slug, "--email", tenant.admin_email.upper(), "--reset-password",
        env=cli_env, cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert f"tenant {tenant.slug}: admin {tenant.admin_email}" in result.stdout
    password = admin_password_of(result.stdout)
    assert password not in result.stderr
    # Unlocked at once, with the new password only; tokens from before the reset stop.
    fresh = headers_for((await login(client, tenant.slug, tenant.admin_email, password))["access_token"])
    old = await client.post(
        "/v1/auth/token", json={"tenant": tenant.slug, "email": tenant.admin_email, "password": PASSWORD}
    )
    assert old.status_code == 401, old.text

    async def old_token_refused() -> bool:
        return (await client.get("/v1/me", headers=tenant.admin)).status_code == 401

    await eventually("the old access token to be refused", old_token_refused, within=3.0)
    admin_id = (await client.get("/v1/me", headers=fresh)).json()["user"]["id"]
    audited = await client.get("/v1/audit-events", params={"object_id": admin_id}, headers=fresh)
    assert audited.status_code == 200, audited.text
    restored = [e for e in audited.json()["items"] if e["action"] == "user.admin_restored"]
    assert len(restored) == 1
    assert restored[0]["actor_id"] is None
    assert restored[0]["detail"] == {"created": False, "fields": ["password"]}


async def test_tenants_admin_makes_a_deactivated_user_an_active_admin(
    client: httpx.AsyncClient, cli_env: dict[str, str], tmp_path: Path
) -> None:
    tenant = await create_tenant(client)
    user, _ = await create_user(client, tenant, role="supervisor")
    assert (await client.delete(f"/v1/users/{user['id']}", headers=tenant.admin)).status_code == 204

    result = bpo(
        "tenants", "admin", "--slug", tenant.slug, "--email", user["email"], env=cli_env, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert "restored" in result.stdout
    assert "password" not in result.stdout
    # Their own password still works: nothing else was changed.
    headers = headers_for((await login(client, tenant.slug, user["email"]))["access_token"])
    me = (await client.get("/v1/me", headers=headers)).json()["user"]
    assert (me["id"], me["role"], me["is_active"]) == (user["id"], "admin", True)
    events = await client.get("/v1/audit-events", params={"object_id": user["id"]}, headers=headers)
    last = events.json()["items"][-1]
    assert (last["action"], last["actor_id"]) == ("user.admin_restored", None)
    assert last["detail"] == {"created": False, "fields": ["role", "is_active"]}


async def test_tenants_admin_creates_an_admin_with_a_one_time_password(
    client: httpx.AsyncClient, cli_env: dict[str, str], tmp_path: Path
) -> None:
    tenant = await create_tenant(client)
    email = f"Rescue@{tenant.slug}.example"

    result = bpo("tenants", "admin", "--slug", tenant.slug, "--email", email, env=cli_env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout
    password = admin_password_of(result.stdout)
    headers = headers_for((await login(client, tenant.slug, email.lower(), password))["access_token"])
    me = (await client.get("/v1/me", headers=headers)).json()["user"]
    assert (me["email"], me["role"]) == (email.lower(), "admin")
    users = (await client.get("/v1/users", params={"role": "admin"}, headers=headers)).json()["items"]
    assert sorted(u["email"] for u in users) == sorted([tenant.admin_email, email.lower()])


def test_tenants_admin_of_an_unknown_tenant_fails_with_a_one_line_reason(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    slug = f"cli-{uuid.uuid4().hex[:10]}"

    result = bpo(
        "tenants", "admin", "--slug", slug, "--email", f"a@{slug}.example", env=cli_env, cwd=tmp_path
    )

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert slug in lines[0]
    assert "not found" in lines[0]
    assert "password" not in result.stdout
