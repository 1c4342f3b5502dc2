from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

from bpo.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


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


def upgrade(settings: Settings, revision: str = "head") -> None:
    _in_thread_if_loop_running(lambda: command.upgrade(alembic_config(settings), revision))


def downgrade(settings: Settings, revision: str) -> None:
    _in_thread_if_loop_running(lambda: command.downgrade(alembic_config(settings), revision))


def revision(settings: Settings, message: str, rev_id: str | None = None) -> None:
    command.revision(alembic_config(settings), message=message, autogenerate=True, rev_id=rev_id)
