"""`bpo migrate` with two URLs gives the application role the password of BPO_DATABASE_URL, hashed
client-side the way PostgreSQL hashes it (so behind PgBouncer or on RDS nothing is set by hand)."""

from __future__ import annotations

import base64
import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bpo.migrations.runner import app_role_password, scram_verifier, upgrade
from bpo.settings import Settings


@pytest.fixture
async def superuser(owner: asyncpg.Connection) -> asyncpg.Connection:
    if not await owner.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        pytest.skip("reading role secrets (pg_authid) needs a superuser")
    return owner


def matches(verifier: str, password: str) -> bool:
    """Whether ``verifier`` (PostgreSQL's SCRAM-SHA-256 secret) is the one for ``password``."""
    method, rest = verifier.split("$", 1)
    iterations, salt = rest.split("$", 1)[0].split(":")
    assert method == "SCRAM-SHA-256"
    return scram_verifier(password, base64.b64decode(salt), int(iterations)) == verifier


async def test_scram_verifier_is_what_postgresql_computes(superuser: asyncpg.Connection) -> None:
    role = f"zz_scram_{uuid.uuid4().hex[:8]}"
    password = "correct horse battery staple!$'\""
    transaction = superuser.transaction()
    await transaction.start()
    try:
        await superuser.execute("SET LOCAL password_encryption = 'scram-sha-256'")
        literal = await superuser.fetchval("SELECT quote_literal($1::text)", password)
        await superuser.execute(f"CREATE ROLE {role} PASSWORD {literal}")
        verifier = await superuser.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
    finally:
        await transaction.rollback()

    assert matches(verifier, password)
    assert not matches(verifier, password + "x")


async def test_migrate_with_two_urls_sets_the_app_role_password(
    settings: Settings, superuser: asyncpg.Connection
) -> None:
    assert settings.database_url
    password = f"app-{uuid.uuid4().hex}"
    app_url = make_url(settings.database_url).set(username=settings.database_app_role, password=password)
    two_urls = settings.model_copy(
        update={
            "database_url": app_url.render_as_string(hide_password=False),
            "migration_database_url": settings.database_url,
        }
    )
    assert app_role_password(two_urls) == password
    assert app_role_password(settings) is None, "one URL: the role keeps no password"

    try:
        upgrade(two_urls)
        verifier = await superuser.fetchval(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1", settings.database_app_role
        )
    finally:
        await superuser.execute(f'ALTER ROLE "{settings.database_app_role}" PASSWORD NULL')

    assert verifier is not None
    assert matches(verifier, password)
