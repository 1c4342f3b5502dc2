"""The ``bpo`` command."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

# Every context's tables, so that foreign keys from one context's tables to another's resolve.
import bpo.models  # noqa: F401
from bpo.cli.common import (
    child_env,
    console,
    fail,
    free_port,
    out,
    print_problems,
    services,
    settings_or_exit,
)
from bpo.cli.db import db_app
from bpo.cli.invoices import invoices_app
from bpo.cli.reports import reports_app
from bpo.cli.sla import sla_app
from bpo.cli.tenants import describe_activity, tenants_app
from bpo.cli.work import work_app
from bpo.settings import Settings

app = typer.Typer(help="BPO Ops: clients, contracts, staffing, SLA and volume billing.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(db_app, name="db")
app.add_typer(work_app, name="work")
app.add_typer(sla_app, name="sla")
app.add_typer(invoices_app, name="invoices")
app.add_typer(reports_app, name="reports")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (runs as the schema owner)."""
    from bpo.migrations.runner import upgrade

    with services(settings_or_exit()) as settings:
        upgrade(settings)
    console.print("[green]database is up to date[/green]")


def _exit_on_signal(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from bpo.app import create_asgi
    from bpo.core.runtime import freeze_startup_objects

    config = uvicorn.Config(
        create_asgi(settings), host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    # uvicorn re-raises the signal it stopped on after a graceful shutdown. SIGTERM's default action
    # would then kill this process before the callers' cleanup runs (child processes, embedded servers).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    freeze_startup_objects()
    uvicorn.Server(config).run()


def _serve_processes(settings: Settings, host: str, port: int, workers: int) -> None:
    import tempfile

    import uvicorn

    # The worker processes build the app from the environment (bpo.asgi:create); Prometheus counts go
    # to a shared directory so that /metrics reports every process, whichever one answers.
    os.environ.update(child_env(settings))
    with tempfile.TemporaryDirectory(prefix="bpo-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        uvicorn.run(
            "bpo.asgi:create",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
            lifespan="on",
        )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default BPO_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default BPO_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes sharing the port.")] = 1,
) -> None:
    """Serve the HTTP API."""
    with services(settings_or_exit()) as settings:
        chosen_host, chosen_port = host or settings.host, port if port is not None else settings.port
        if workers == 1:
            _serve(settings, chosen_host, chosen_port)
        else:
            _serve_processes(settings, chosen_host, chosen_port, workers)


def worker_command(
    modules: list[str], processes: int, threads: int, queues: list[str] | None = None
) -> list[str]:
    command = [sys.executable, "-m", "dramatiq", "bpo.worker", *modules]
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
    from bpo.scheduler import run_scheduler

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
    reset_demo: Annotated[
        bool,
        typer.Option(
            "--reset-demo",
            help="Start the demo tenant afresh from tenants/demo.yaml (only a tenant marked demo: true); "
            "the old one is kept, retired, under another slug.",
        ),
    ] = False,
) -> None:
    """Everything on one machine: embedded PostgreSQL and Redis (unless configured), migrations, the demo
    tenant, and the API, worker and scheduler together."""
    from bpo.cli import dev as running
    from bpo.core.errors import BpoError
    from bpo.core.logging import log_format
    from bpo.migrations.runner import upgrade
    from bpo.onboarding.apply import ManifestRejected
    from bpo.onboarding.demo import (
        DEMO_MANIFEST,
        DemoReports,
        DemoTenant,
        NotADemo,
        add_activity,
        load_demo,
        send_last_weekly_reports,
    )

    if reset_demo and not (demo and DEMO_MANIFEST.exists()):
        fail(f"--reset-demo needs the demo: {DEMO_MANIFEST} and no --no-demo", 2)
    base = settings_or_exit()
    base = base.model_copy(update={"log_format": log_format(base, watched=True)})
    with services(base) as settings:
        console.print("migrating…")
        upgrade(settings)
        loaded: DemoTenant | None = None
        demo_warning: str | None = None
        if demo and DEMO_MANIFEST.exists():
            doing = "resetting the demo tenant from" if reset_demo else "applying"
            console.print(f"{doing} {DEMO_MANIFEST}…")
            problems: Sequence[object] = ()
            reason = ""
            try:
                loaded = asyncio.run(load_demo(settings, DEMO_MANIFEST, reset=reset_demo))
            except NotADemo as exc:
                fail(str(exc), 2)
            except ManifestRejected as exc:
                problems, reason = exc.errors, "does not apply to the demo tenant"
            except BpoError as exc:
                problems, reason = exc.errors, f"does not apply to the demo tenant: {exc.detail}"
            if loaded is None:
                # The demo tenant was changed since (through the API): serve it as it is.
                warning = f"{DEMO_MANIFEST} {reason}"
                console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
                print_problems(problems)
                demo_warning = f"{DEMO_MANIFEST} was not applied: `bpo dev --reset-demo` starts it afresh"
        if loaded is not None and loaded.demo:
            with console.status("adding recent demo activity…"):
                activity = asyncio.run(add_activity(settings, loaded.slug))
            console.print(describe_activity(activity), highlight=False, soft_wrap=True)
            reports: DemoReports | None = None
            with console.status("making last week's client reports…"):
                try:
                    reports = asyncio.run(send_last_weekly_reports(settings, loaded.slug))
                except Exception as exc:  # the demo is served without them
                    missing = f"last week's client reports were not made: {exc}"
                    console.print(
                        f"[yellow]warning:[/yellow] {escape(missing)}", highlight=False, soft_wrap=True
                    )
            if reports is not None and (line := running.describe_reports(reports)):
                console.print(line, highlight=False, soft_wrap=True)
        host = settings.host
        chosen = free_port(host, port if port is not None else settings.port)
        url = f"http://{host}:{chosen}"
        with running.local_mail(settings, url) as settings:
            env = child_env(settings)
            # The children are in process groups of their own: whatever ends `bpo dev` (SIGTERM before the
            # server handles it, a closed terminal's SIGHUP) must still reach the `finally` that stops them.
            for sig in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, _exit_on_signal)
            children = [
                running.spawn(worker_command([], 1, 4), env),
                running.spawn([sys.executable, "-m", "bpo.cli", "scheduler"], env),
            ]
            try:
                shown = running.banner(url, loaded, demo_warning, mailbox=settings.dev_mailbox is not None)
                out.print(Panel(Text(shown), title="BPO Ops is running", expand=False), highlight=False)
                out.print(f"BPO Ops API listening on {url}", highlight=False)
                _serve(settings, host, chosen)
            finally:
                running.stop(children)


def main() -> None:
    app()


if __name__ == "__main__":
    main()


__all__ = ["Path", "app", "main"]
