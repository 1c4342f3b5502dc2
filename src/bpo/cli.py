"""The ``bpo`` command."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from bpo.billing.cli import invoices_app
from bpo.db.cli import db_app
from bpo.settings import Settings, SettingsError, load_settings
from bpo.sla.cli import sla_app
from bpo.work.cli import work_app

if TYPE_CHECKING:
    from bpo.tenancy import demo_activity

app = typer.Typer(help="BPO Ops: clients, contracts, staffing, SLA and volume billing.", no_args_is_help=True)
tenants_app = typer.Typer(help="Provision and manage tenants (operators).", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(db_app, name="db")
app.add_typer(work_app, name="work")
app.add_typer(sla_app, name="sla")
app.add_typer(invoices_app, name="invoices")

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
    from bpo.clients.onboarding import ManifestRejected
    from bpo.core.errors import BpoError
    from bpo.db.migrate import upgrade
    from bpo.tenancy.demo import DEMO_MANIFEST, DemoTenant, add_activity, load_demo

    base = settings_or_exit()
    with services(base) as settings:
        console.print("migrating…")
        upgrade(settings)
        loaded: DemoTenant | None = None
        if demo and DEMO_MANIFEST.exists():
            console.print(f"applying {DEMO_MANIFEST}…")
            try:
                loaded = asyncio.run(load_demo(settings, DEMO_MANIFEST))
            except ManifestRejected as exc:
                print_problems(exc.errors)
                fail(f"{DEMO_MANIFEST} was not applied")
            except BpoError as exc:
                print_problems(exc.errors)
                fail(f"{DEMO_MANIFEST} was not applied: {exc.detail}")
        if loaded is not None and loaded.demo:
            with console.status("adding recent demo activity…"):
                activity = asyncio.run(add_activity(settings, loaded.slug))
            console.print(describe_activity(activity), highlight=False, soft_wrap=True)
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
        if loaded is not None:
            shared = {login.password for login in loaded.logins}
            one = shared.pop() if len(shared) == 1 else None
            lines += ["", f"Demo tenant '{loaded.slug}'" + (f" — password: {one}" if one else "")]
            who = [
                (login.role + (f" ({login.client})" if login.client else ""), login)
                for login in loaded.logins
            ]
            width = max(len(role) for role, _ in who)
            for role, login in who:
                password = "" if one else f"  {login.password or '(password unchanged)'}"
                lines.append(f"  {role:<{width}}  {login.email}{password}")
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


def print_problems(problems: Sequence[object]) -> None:
    """One line per problem, ``path: message``, as written (no markup, no wrapping)."""
    for problem in problems:
        text = f"{problem['field']}: {problem['message']}" if isinstance(problem, dict) else str(problem)
        console.print(text, markup=False, highlight=False, soft_wrap=True)


PLAN_STYLES = {"create": "green", "update": "yellow", "unchanged": "dim"}


@tenants_app.command("apply")
def tenants_apply(
    manifest_file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="The manifest, e.g. tenants/acme.yaml.", exists=True, dir_okay=False
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")] = False,
) -> None:
    """Create or update a tenant from its manifest: validate the whole file, print the plan (create /
    update / unchanged per object), then apply it in one transaction. Applying twice changes nothing."""
    from bpo.clients.manifest import load_manifest
    from bpo.clients.onboarding import Action, Applied, ManifestRejected, Plan, apply_manifest, plan_manifest
    from bpo.core.errors import BpoError
    from bpo.core.runtime import Runtime

    loaded, problems = load_manifest(manifest_file.read_text(encoding="utf-8"))
    if loaded is None:
        print_problems(problems)
        fail(f"{manifest_file}: {len(problems)} problem(s); nothing was changed")
    manifest = loaded

    def show(plan: Plan) -> None:
        state = "exists" if plan.tenant_exists else "is new"
        out.print(f"Tenant {manifest.tenant.slug!r} {state}. Plan:", markup=False, highlight=False)
        for change in plan.changes:
            out.print(
                change.describe(),
                style=PLAN_STYLES[change.action],
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        out.print(f"Plan: {plan.summary()}.", markup=False, highlight=False)

    with services(settings_or_exit()) as settings:

        async def run() -> Applied | None:
            runtime = Runtime.create(settings)
            try:
                plan = await plan_manifest(runtime, manifest)
                show(plan)
                if plan.errors:
                    raise ManifestRejected(plan.errors)
                if dry_run or not plan.has_changes:
                    return None
                with console.status("applying…"):
                    password = settings.demo_password.get_secret_value()
                    return await apply_manifest(runtime, manifest, demo_password=password)
            finally:
                await runtime.close()

        try:
            applied = asyncio.run(run())
        except ManifestRejected as exc:
            print_problems(exc.errors)
            fail("the plan cannot be applied; nothing was changed")
        except BpoError as exc:
            print_problems(exc.errors)
            fail(f"{exc.detail}; the plan was rolled back")
    if applied is None:
        out.print("Dry run: nothing was changed." if dry_run else "Nothing to change.", highlight=False)
        return
    out.print("Applied.", highlight=False)
    for email, password in applied.passwords.items():
        out.print(f"one-time password for {email}: {password}", markup=False, highlight=False, soft_wrap=True)
    if manifest.tenant.demo and applied.plan.count(Action.CREATE):
        out.print("Demo tenant: new users log in with BPO_DEMO_PASSWORD.", highlight=False)


def describe_activity(activity: demo_activity.Activity) -> str:
    run = "a schedule run queued" if activity.schedule_run else "no new schedule run"
    return (
        f"demo activity: {activity.items_created} new work items over {activity.days} contract-days, "
        f"{activity.shifts_created} new shifts, {run}"
    )


@tenants_app.command("demo-activity")
def tenants_demo_activity(
    manifest_file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="The demo tenant's manifest (tenant.demo: true).",
            exists=True,
            dir_okay=False,
        ),
    ],
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of work items before today.")] = 42,
) -> None:
    """Give a demo tenant recent synthetic activity, as `bpo dev` does: work items on its active
    contracts for the last weeks (only the days not yet given), shifts around today and a schedule run.
    Refuses a manifest not marked as a demo."""
    from bpo.clients.manifest import load_manifest
    from bpo.core.errors import BpoError
    from bpo.tenancy.demo import add_activity

    manifest, problems = load_manifest(manifest_file.read_text(encoding="utf-8"))
    if manifest is None:
        print_problems(problems)
        fail(f"{manifest_file}: {len(problems)} problem(s)")
    if not manifest.tenant.demo:
        fail(f"{manifest_file}: tenant {manifest.tenant.slug!r} is not marked as a demo (tenant.demo)", 2)
    with services(settings_or_exit()) as settings:
        try:
            with console.status("adding recent demo activity…"):
                activity = asyncio.run(add_activity(settings, manifest.tenant.slug, days))
        except BpoError as exc:
            print_problems(exc.errors)
            fail(exc.detail)
    out.print(describe_activity(activity), highlight=False, soft_wrap=True)


@tenants_app.command("export")
def tenants_export(
    slug: Annotated[str, typer.Option(help="The tenant to export.")],
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Write a tenant's clients, services, calendars, contracts, versions, sites and users as a manifest
    that `bpo tenants apply` takes back unchanged."""
    from bpo.clients.inventory import export
    from bpo.clients.manifest import dump_manifest
    from bpo.clients.onboarding import acting_scope, tenant_id_of
    from bpo.core.errors import BpoError
    from bpo.core.runtime import Runtime

    with services(settings_or_exit()) as settings:

        async def run() -> str:
            runtime = Runtime.create(settings)
            try:
                tenant_id = await tenant_id_of(runtime, slug)
                if tenant_id is None:
                    fail(f"no tenant {slug!r}")
                async with runtime.db.tenant(tenant_id) as session:
                    return dump_manifest(await export(session, await acting_scope(session, tenant_id)))
            finally:
                await runtime.close()

        try:
            text = asyncio.run(run())
        except BpoError as exc:
            fail(exc.detail)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}", markup=False, highlight=False)


@tenants_app.command("schema")
def tenants_schema(
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """The JSON Schema of tenant manifests, for editors (tenants/manifest.schema.json)."""
    import json

    from bpo.clients.manifest import manifest_json_schema

    text = json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def main() -> None:
    app()


if __name__ == "__main__":
    main()


__all__ = ["Path", "app", "main"]
