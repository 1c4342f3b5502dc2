"""The ``bpo`` command."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from bpo.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="BPO Ops: clients, contracts, staffing, SLA and volume billing.", no_args_is_help=True)
tenants_app = typer.Typer(help="Provision and manage tenants (operators).", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")

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


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (runs as the schema owner)."""
    from bpo.db.migrate import upgrade

    with services(settings_or_exit()) as settings:
        upgrade(settings)
    console.print("[green]database is up to date[/green]")


def _exit_on_signal(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from bpo.app import create_asgi

    config = uvicorn.Config(
        create_asgi(settings), host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    # uvicorn re-raises the signal it stopped on after a graceful shutdown. SIGTERM's default action
    # would then kill this process before the callers' cleanup runs (child processes, embedded servers).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    uvicorn.Server(config).run()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default BPO_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default BPO_PORT).")] = None,
) -> None:
    """Serve the HTTP API."""
    with services(settings_or_exit()) as settings:
        _serve(settings, host or settings.host, port if port is not None else settings.port)


def worker_command(
    modules: list[str], processes: int, threads: int, queues: list[str] | None = None
) -> list[str]:
    command = [sys.executable, "-m", "dramatiq", "bpo.delivery.worker", *modules]
    command += ["--processes", str(processes), "--threads", str(threads)]
    if queues:
        command += ["--queues", *queues]
    return command


@app.command()
def worker(
    modules: Annotated[list[str] | None, typer.Argument(help="Extra modules with actors to load.")] = None,
    processes: Annotated[int, typer.Option(min=1)] = 1,
    threads: Annotated[int, typer.Option(min=1)] = 4,
    queues: Annotated[list[str] | None, typer.Option("--queue", help="Only these queues.")] = None,
) -> None:
    """Run background job workers (Dramatiq)."""
    with services(settings_or_exit()) as settings:
        child = subprocess.Popen(
            worker_command(modules or [], processes, threads, queues), env=child_env(settings)
        )
        # Docker, ECS and systemd signal only this process (and as PID 1 it would ignore SIGTERM): pass
        # the signal on so the workers finish their jobs, and wait for them before the services stop.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
        raise typer.Exit(child.wait())


@app.command()
def scheduler() -> None:
    """Run the periodic scheduler (outbox relay sweep, maintenance)."""
    from bpo.core.logging import configure_logging
    from bpo.delivery.scheduler import run_scheduler

    with services(settings_or_exit()) as settings:
        configure_logging(settings)
        stop = asyncio.Event()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_scheduler(settings, stop)

        asyncio.run(main())


@app.command()
def dev(
    port: Annotated[
        int | None, typer.Option(help="Port for the API (default BPO_PORT, or a free one).")
    ] = None,
    demo: Annotated[bool, typer.Option(help="Load tenants/demo.yaml when it exists.")] = True,
) -> None:
    """Everything on one machine: embedded PostgreSQL and Redis (unless configured), migrations, the demo
    tenant, and the API, worker and scheduler together."""
    from bpo.db.migrate import upgrade
    from bpo.tenancy.demo import DEMO_MANIFEST, load_demo

    base = settings_or_exit()
    with services(base) as settings:
        console.print("migrating…")
        upgrade(settings)
        logins: list[tuple[str, str]] = []
        if demo and DEMO_MANIFEST.exists():
            console.print(f"loading {DEMO_MANIFEST}…")
            logins = asyncio.run(load_demo(settings, DEMO_MANIFEST))
        env = child_env(settings)
        children = [
            subprocess.Popen(worker_command([], 1, 4), env=env),
            subprocess.Popen([sys.executable, "-m", "bpo.cli", "scheduler"], env=env),
        ]
        host = settings.host
        chosen = free_port(host, port if port is not None else settings.port)
        url = f"http://{host}:{chosen}"
        lines = [
            f"API      {url}",
            f"Docs     {url}/schema",
            f"OpenAPI  {url}/schema/openapi.json",
            f"Health   {url}/health   Ready {url}/ready",
        ]
        if logins:
            lines.append("")
            lines.append(f"Demo tenant 'demo' — password: {settings.demo_password.get_secret_value()}")
            lines += [f"  {role:<16} {email}" for email, role in logins]
        out.print(Panel("\n".join(lines), title="BPO Ops is running", expand=False), highlight=False)
        out.print(f"BPO Ops API listening on {url}", highlight=False)
        try:
            _serve(settings, host, chosen)
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()


@tenants_app.command("create")
def tenants_create(
    slug: Annotated[str, typer.Option(help="Short name used at login, e.g. 'acme'.")],
    name: Annotated[str, typer.Option(help="The operator's name.")],
    admin_email: Annotated[str, typer.Option(help="Email of the first administrator.")],
    admin_password: Annotated[
        str | None, typer.Option(help="Password; generated and printed once when omitted.")
    ] = None,
    time_zone: Annotated[str, typer.Option(help="The operator's IANA time zone.")] = "Asia/Tokyo",
) -> None:
    """Provision a tenant and its first admin."""
    import msgspec

    from bpo.core.errors import BpoError
    from bpo.core.runtime import Runtime
    from bpo.tenancy import schemas
    from bpo.tenancy.service import create_tenant

    try:
        data = msgspec.convert(
            {
                "slug": slug,
                "name": name,
                "admin_email": admin_email,
                "admin_password": admin_password,
                "time_zone": time_zone,
            },
            schemas.TenantCreate,
        )
    except msgspec.ValidationError as exc:
        fail(str(exc), 2)

    with services(settings_or_exit()) as settings:

        async def run() -> schemas.TenantCreated:
            runtime = Runtime.create(settings)
            try:
                return await create_tenant(runtime, data)
            finally:
                await runtime.close()

        try:
            created = asyncio.run(run())
        except BpoError as exc:
            fail(exc.detail)
    out.print(
        f"tenant {created.tenant.slug} ({created.tenant.id}) created; admin {created.admin.email}",
        highlight=False,
    )
    if created.admin_password:
        out.print(f"one-time admin password: {created.admin_password}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()


__all__ = ["Path", "app", "main"]
