"""What every ``bpo`` command shares: the consoles, failing with a reason, settings, and the servers a
command runs against."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from bpo.settings import Settings, SettingsError, load_settings

console = Console(stderr=True)
out = Console()


def fail(reason: str, code: int = 1) -> NoReturn:
    # The reason is plain text (it may quote a regex with [..]) and stays on one line at any width.
    console.print(f"[red]error:[/red] {escape(reason)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc), 2)


@contextmanager
def services(settings: Settings) -> Iterator[Settings]:
    """Use the configured servers, or start the embedded ones for as long as the command runs."""
    if not (settings.embedded_database or settings.embedded_redis):
        yield settings
        return
    from bpo.embedded import resolve_services

    resolved, embedded = resolve_services(settings)
    try:
        yield resolved
    finally:
        embedded.stop()


def child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    assert settings.database_url
    assert settings.redis_url
    env["BPO_DATABASE_URL"] = settings.database_url
    env["BPO_REDIS_URL"] = settings.redis_url
    if settings.migration_database_url:
        env["BPO_MIGRATION_DATABASE_URL"] = settings.migration_database_url
    env["BPO_SECRET_KEY"] = settings.signing_key()
    if settings.log_format:
        env["BPO_LOG_FORMAT"] = settings.log_format
    if settings.smtp_url is not None:
        env["BPO_SMTP_URL"] = settings.smtp_url.get_secret_value()
    if settings.public_url:
        env["BPO_PUBLIC_URL"] = settings.public_url
    if settings.dev_mailbox is not None:
        env["BPO_DEV_MAILBOX"] = str(settings.dev_mailbox)
    # Dramatiq's Redis consumer polls an empty queue with a backoff capped at this many milliseconds
    # (1,000 by default): an idle worker starts a job within a fifth of a second of its sending.
    env.setdefault("dramatiq_worker_timeout", "200")
    return env


def free_port(host: str, preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    fail(f"no free port on {host}")


def print_problems(problems: Sequence[object]) -> None:
    """One line per problem, ``path: message``, as written (no markup, no wrapping)."""
    for problem in problems:
        text = f"{problem['field']}: {problem['message']}" if isinstance(problem, dict) else str(problem)
        console.print(text, markup=False, highlight=False, soft_wrap=True)
