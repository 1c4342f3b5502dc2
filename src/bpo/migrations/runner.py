from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bpo.core.db import create_engine
from bpo.settings import Settings

MIGRATIONS = Path(__file__).parent


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["settings"] = settings
    return config


def _in_thread_if_loop_running(fn: object) -> None:
    assert callable(fn)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn()
        return
    # Alembic's async env runs its own event loop, which cannot nest inside a running one.
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="migrations")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def upgrade(settings: Settings, revision: str = "heads") -> None:
    """Migrate as the owner; then, when the application logs in as its role with a password (two URLs),
    give the role that password, so that a deployment keeps one secret per role and sets none by hand."""

    def run() -> None:
        command.upgrade(alembic_config(settings), revision)
        password = app_role_password(settings)
        if password is not None:
            asyncio.run(_set_role_password(settings, password))

    _in_thread_if_loop_running(run)


def app_role_password(settings: Settings) -> str | None:
    """The password in BPO_DATABASE_URL when it logs in as the application role and migrations use
    another URL (the owner's)."""
    if settings.database_url is None or settings.migration_database_url is None:
        return None
    url = make_url(settings.database_url)
    return url.password if url.username == settings.database_app_role and url.password else None


def scram_verifier(password: str, salt: bytes, iterations: int = 4096) -> str:
    """PostgreSQL's SCRAM-SHA-256 secret for an ASCII password (RFC 5802/7677; SASLprep keeps ASCII)."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    encode = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{encode(salt).decode()}"
        f"${encode(stored_key).decode()}:{encode(server_key).decode()}"
    )


async def _set_role_password(settings: Settings, password: str) -> None:
    # Hashed here when SASLprep leaves it as is: the password itself never reaches the server's log.
    secret = scram_verifier(password, os.urandom(16)) if password.isascii() else password
    engine = create_engine(settings, as_app=False)
    try:
        async with engine.begin() as connection:
            # ALTER ROLE takes no bind parameters: the server quotes the literal.
            literal = (await connection.execute(text("SELECT quote_literal(:s)"), {"s": secret})).scalar_one()
            await connection.exec_driver_sql(f'ALTER ROLE "{settings.database_app_role}" PASSWORD {literal}')
    finally:
        await engine.dispose()
