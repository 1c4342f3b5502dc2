"""``bpo tenants``: provision tenants, restore an admin, apply and export their manifests, give a demo tenant
activity."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bpo.cli.common import console, fail, out, print_problems, services, settings_or_exit

if TYPE_CHECKING:
    from bpo.onboarding import demo_activity

tenants_app = typer.Typer(help="Provision and manage tenants (operators).", no_args_is_help=True)


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


@tenants_app.command("admin")
def tenants_admin(
    slug: Annotated[str, typer.Option(help="The tenant.")],
    email: Annotated[str, typer.Option(help="Email of the user to make an admin (created when new).")],
    password: Annotated[
        str | None,
        typer.Option(help="A new password; for a new user, generated and printed once when omitted."),
    ] = None,
    reset_password: Annotated[
        bool,
        typer.Option("--reset-password", help="Give an existing user a new password, printed once."),
    ] = False,
) -> None:
    """Give a tenant an active admin again (every admin demoted, deactivated, locked out or without their
    password): the user with this email becomes an active admin and is unlocked, or is created. Audited."""
    import msgspec

    from bpo.core.errors import BpoError
    from bpo.core.runtime import Runtime
    from bpo.tenancy import schemas
    from bpo.tenancy.users import restore_admin

    try:
        data = msgspec.convert(
            {"slug": slug, "email": email, "password": password, "reset_password": reset_password},
            schemas.AdminRestore,
        )
    except msgspec.ValidationError as exc:
        fail(str(exc), 2)

    with services(settings_or_exit()) as settings:

        async def run() -> schemas.AdminRestored:
            runtime = Runtime.create(settings)
            try:
                return await restore_admin(runtime, data)
            finally:
                await runtime.close()

        try:
            restored = asyncio.run(run())
        except BpoError as exc:
            print_problems(exc.errors)
            fail(exc.detail)
    done = "created" if restored.created else "restored"
    out.print(
        f"tenant {restored.tenant}: admin {restored.admin.email} ({restored.admin.id}) {done}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if restored.password:
        out.print(f"one-time admin password: {restored.password}", markup=False, highlight=False)


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
    from bpo.core.errors import BpoError
    from bpo.core.runtime import Runtime
    from bpo.onboarding.apply import (
        Action,
        Applied,
        ManifestRejected,
        Plan,
        apply_manifest,
        plan_manifest,
        read_manifest,
    )
    from bpo.onboarding.manifest import ManifestError

    text = manifest_file.read_text(encoding="utf-8")

    class Unreadable(Exception):
        def __init__(self, problems: list[ManifestError]) -> None:
            self.problems = problems

    def show(plan: Plan) -> None:
        state = "exists" if plan.tenant_exists else "is new"
        out.print(f"Tenant {plan.manifest.tenant.slug!r} {state}. Plan:", markup=False, highlight=False)
        for change in plan.changes:
            out.print(
                change.describe(),
                style=PLAN_STYLES[change.action],
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        out.print(f"Plan: {plan.summary()}.", markup=False, highlight=False)
        for warning in plan.warnings:
            console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)

    with services(settings_or_exit()) as settings:

        async def run() -> Applied | None:
            runtime = Runtime.create(settings)
            try:
                manifest, problems = await read_manifest(runtime, text)
                if manifest is None:
                    raise Unreadable(problems)
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
        except Unreadable as exc:
            print_problems(exc.problems)
            fail(f"{manifest_file}: {len(exc.problems)} problem(s); nothing was changed")
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
    if applied.plan.manifest.tenant.demo and applied.plan.count(Action.CREATE):
        out.print("Demo tenant: new users log in with BPO_DEMO_PASSWORD.", highlight=False)


def describe_activity(activity: demo_activity.Activity) -> str:
    run = "a schedule run queued" if activity.schedule_run else "no new schedule run"
    return (
        f"demo activity: {activity.items_created} new work items over {activity.days} contract-days, "
        f"{activity.shifts_created} new shifts, {run}, {activity.punches} new attendance punches"
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
    from bpo.core.errors import BpoError
    from bpo.onboarding.demo import add_activity
    from bpo.onboarding.manifest import load_manifest

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
    like: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Follow this manifest's order of objects and keys and its shorthands (rate_plan, "
            "objectives), so that a diff against it shows only real differences.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Write a tenant's clients, services, calendars, contracts, versions, sites and users as a manifest
    that `bpo tenants apply` takes back unchanged: sorted by code, or in the order of --like."""
    from bpo.core.errors import BpoError
    from bpo.core.runtime import Runtime
    from bpo.onboarding.apply import acting_scope, tenant_id_of
    from bpo.onboarding.inventory import export
    from bpo.onboarding.manifest import dump_manifest

    with services(settings_or_exit()) as settings:

        async def run() -> str:
            runtime = Runtime.create(settings)
            try:
                tenant_id = await tenant_id_of(runtime, slug)
                if tenant_id is None:
                    fail(f"no tenant {slug!r}")
                async with runtime.db.tenant(tenant_id) as session:
                    exported = await export(session, await acting_scope(session, tenant_id))
                    return dump_manifest(exported, like.read_text(encoding="utf-8") if like else None)
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

    from bpo.onboarding.manifest import manifest_json_schema

    text = json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
