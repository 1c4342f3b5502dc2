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
from tests.support.factories import headers_for, login
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
