"""Declarative onboarding, the engine: compare a manifest with the database by human codes (``plan``),
carry the plan out through the same services as the REST API, so the same rules and audit events apply
(``apply``), and write the database back in the manifest's format (``export``).

Apply is an upsert: objects the file does not mention, and versions it does not list, are left alone (a
report subscription the file leaves out keeps going; ``active: false`` pauses it).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import Enum, StrEnum
from typing import Any

import msgspec
from msgspec.structs import replace
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import account
from bpo.billing import schemas as billing_schemas
from bpo.clients import contracts, defaults, rules, schemas, service
from bpo.core import business_time as cal
from bpo.core.errors import BpoError, Conflict, NotFound, field_error
from bpo.core.i18n import Language, language_for_zone
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope, acting_admin_scope, system_scope
from bpo.onboarding.inventory import (
    Ids,
    Inventory,
    all_users,
    calendar_spec,
    client_spec,
    contract_spec,
    escalation_rules_spec,
    load_inventory,
    rate_plan_spec,
    report_spec,
    service_spec,
    site_spec,
    sla_policy_spec,
    staff_spec,
    user_spec,
)
from bpo.onboarding.manifest import (
    NO_ADMIN,
    Manifest,
    ManifestClient,
    ManifestContract,
    ManifestError,
    ManifestEscalationRules,
    ManifestIssuer,
    ManifestRatePlan,
    ManifestReport,
    ManifestService,
    ManifestSite,
    ManifestSlaPolicy,
    ManifestStaff,
    ManifestUser,
    declared_slug,
    issuer_or_none,
    load_manifest,
    rate_versions,
    sla_versions,
)
from bpo.reports import schemas as report_schemas
from bpo.reports import service as reports
from bpo.staffing import schemas as staffing_schemas
from bpo.staffing import service as staffing
from bpo.tenancy import schemas as tenancy_schemas
from bpo.tenancy import service as tenancy
from bpo.tenancy import users as tenancy_users
from bpo.tenancy.auth import tenant_id_for
from bpo.tenancy.emails import normalize_email
from bpo.work import escalation_rules
from bpo.work import escalations_schemas as escalation_schemas
from bpo.work.voices import service as voices

Status = schemas.ContractStatus

TENANT_FIELDS = ("name", "time_zone", "invoice_registration_number", "default_language")
CALENDAR_FIELDS = tuple(f for f in schemas.CalendarCreate.__struct_fields__ if f != "code")
CLIENT_FIELDS = tuple(f for f in schemas.ClientCreate.__struct_fields__ if f != "code")
SITE_FIELDS = ("name", "kind", "time_zone", "client", "address", "seat_capacity")
SERVICE_FIELDS = ("name", "description")
CONTRACT_FIELDS = (
    "name", "service", "work_type", "start_date", "calendar", "end_date", "staffing_mode", "site",
    "coverage", "open_shift_approval", "expected_monthly_volume", "billable_event", "currency",
    "voice_categories", "escalation_rules",
)  # fmt: skip
SLA_FIELDS = ("objectives",)
RATE_FIELDS = ("currency", "charges", "minimum_commitment", "service_credits", "meters", "surcharges")
USER_FIELDS = ("role", "full_name", "client")
STAFF_FIELDS = tuple(f for f in ManifestStaff.__struct_fields__ if f != "code")
REPORT_FIELDS = tuple(f for f in ManifestReport.__struct_fields__ if f not in ("client", "cadence"))
# Manifest staff fields that name other objects by code or email, and the API's field for their ids.
STAFF_REFERENCES = {
    "user": "user_id",
    "sites": "site_ids",
    "trained_contracts": "trained_contract_ids",
    "excluded_contracts": "excluded_contract_ids",
}
# What the services keep for life: changing it means a new object.
IMMUTABLE = {
    "client": frozenset({"currency"}),
    "site": frozenset({"kind", "client"}),
    "contract": frozenset({"service", "work_type", "start_date", "currency"}),
}
# The order objects are written in, each after what it refers to; "status" is the contracts' transitions,
# after their versions (a contract becomes active only with a rate plan).
PHASES = (
    "tenant", "calendar", "client", "site", "service", "contract", "sla_policy", "rate_plan", "status",
    "user", "staff", "report",
)  # fmt: skip
KIND_NAMES = {"sla_policy": "SLA policy", "rate_plan": "rate plan"}


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.UNCHANGED: "="}


@dataclass(frozen=True)
class Change:
    """One object of the manifest and what applying does to it."""

    kind: str
    key: str
    action: Action
    path: str
    fields: tuple[str, ...] = ()
    # The declared object with every default filled in.
    spec: Any = None
    row_id: uuid.UUID | None = None
    # The client of a service or contract; the contract of a version.
    owner: str = ""
    # A contract's statuses from the current one to the declared one.
    route: tuple[Status, ...] = ()

    def describe(self) -> str:
        details = ["status " + " → ".join(self.route) if name == "status" else name for name in self.fields]
        line = (
            f"{SYMBOLS[self.action]} {self.action:<9} {KIND_NAMES.get(self.kind, self.kind):<10} {self.key}"
        )
        return f"{line}  ({', '.join(details)})" if details else line


@dataclass
class Plan:
    manifest: Manifest
    changes: list[Change]
    errors: list[ManifestError]
    # False when the tenant does not exist yet: applying creates it first.
    tenant_exists: bool
    ids: Ids = field(default_factory=Ids)
    # What applies but is likely not what was meant.
    warnings: list[ManifestError] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    @property
    def has_changes(self) -> bool:
        return not self.tenant_exists or any(c.action is not Action.UNCHANGED for c in self.changes)

    def summary(self) -> str:
        return (
            f"{self.count(Action.CREATE)} to create, {self.count(Action.UPDATE)} to update, "
            f"{self.count(Action.UNCHANGED)} unchanged"
        )


class ManifestRejected(Exception):
    def __init__(self, errors: Sequence[ManifestError]) -> None:
        super().__init__("; ".join(map(str, errors)))
        self.errors = list(errors)


# --- plan ------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    return repr(value.value if isinstance(value, Enum) else value)


def _route(current: Status, target: Status) -> tuple[Status, ...] | None:
    """The shortest way through the contract lifecycle, e.g. draft → active → suspended."""
    routes: list[tuple[Status, ...]] = [(current,)]
    while routes:
        route = routes.pop(0)
        if route[-1] == target:
            return route
        routes += [(*route, s) for s in sorted(contracts.TRANSITIONS[route[-1]]) if s not in route]
    return None


def _round_the_clock(windows: Sequence[schemas.WindowSpec]) -> bool:
    """Whether weekly windows leave no minute of the week closed."""
    week = 7 * cal.MINUTES_PER_DAY
    spans: list[tuple[int, int]] = []
    for window in windows:
        start, end = cal.parse_clock(window.start), cal.parse_clock(window.end)
        for weekday in service.weekdays(window.days):
            first = weekday * cal.MINUTES_PER_DAY + start
            last = weekday * cal.MINUTES_PER_DAY + end
            spans += [(first, min(last, week)), (0, last - week)] if last > week else [(first, last)]
    covered = 0
    for first, last in sorted(spans):
        if first > covered:
            return False
        covered = max(covered, last)
    return covered >= week


class _Planner:
    def __init__(self, manifest: Manifest, state: Inventory, tenant_exists: bool) -> None:
        self.manifest = manifest
        self.state = state
        self.tenant_exists = tenant_exists
        self.changes: list[Change] = []
        self.errors: list[ManifestError] = []
        self.warnings: list[ManifestError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(ManifestError(path, message))

    def compare(
        self,
        kind: str,
        key: str,
        path: str,
        desired: msgspec.Struct,
        current: msgspec.Struct | None,
        names: Sequence[str],
        *,
        row_id: uuid.UUID | None = None,
        owner: str = "",
        route: tuple[Status, ...] = (),
        extra: tuple[str, ...] = (),
        add: bool = True,
    ) -> Change:
        """Declared and stored values are compared as the same typed objects, so what the database
        normalised (defaults, JSON) reads back equal and a second apply finds nothing to do."""
        if current is None:
            change = Change(kind, key, Action.CREATE, path, extra, desired, owner=owner, route=route)
        else:
            changed = tuple(n for n in names if getattr(desired, n) != getattr(current, n)) + extra
            for name in sorted(IMMUTABLE.get(kind, frozenset()).intersection(changed)):
                self.error(
                    rules.join(path, name),
                    f"cannot change once created (it is {_shown(getattr(current, name))}); "
                    f"declare a new {kind} instead",
                )
            action = Action.UPDATE if changed else Action.UNCHANGED
            change = Change(kind, key, action, path, changed, desired, row_id, owner, route)
        if add:
            self.changes.append(change)
        return change

    def run(self) -> Plan:
        m, state = self.manifest, self.state
        if state.tenant is not None and state.tenant.slug != m.tenant.slug:
            self.error("tenant.slug", f"this manifest is for {m.tenant.slug!r}, not {state.tenant.slug!r}")
        tenant = replace(
            m.tenant,
            default_language=m.tenant.default_language or language_for_zone(m.tenant.time_zone),
            issuer=issuer_or_none(m.tenant.issuer),
        )
        self.compare("tenant", m.tenant.slug, "tenant", tenant, state.tenant, (*TENANT_FIELDS, "issuer"))
        if not self.tenant_exists and not any(u.role is Role.ADMIN for u in m.users):
            self.error("users", NO_ADMIN)
        for i, calendar in enumerate(m.calendars):
            self.calendar(f"calendars[{i}]", calendar)
        for i, client in enumerate(m.clients):
            self.client(f"clients[{i}]", client)
        for i, site in enumerate(m.sites):
            self.site(f"sites[{i}]", site)
        for i, client in enumerate(m.clients):
            for j, offered in enumerate(client.services):
                self.service(f"clients[{i}].services[{j}]", client, offered)
        declared = [
            (f"clients[{i}].contracts[{j}]", client, contract)
            for i, client in enumerate(m.clients)
            for j, contract in enumerate(client.contracts)
        ]
        for path, client, contract in declared:
            self.contract(path, client, contract)
        for path, client, contract in declared:
            self.versions(path, client, contract)
        for i, user in enumerate(m.users):
            self.user(f"users[{i}]", user)
        for i, person in enumerate(m.staff):
            self.staff(f"staff[{i}]", person)
        language = tenant.default_language or language_for_zone(tenant.time_zone)
        for i, report in enumerate(m.reports):
            self.report(f"reports[{i}]", report, language)
        return Plan(m, self.changes, self.errors, self.tenant_exists, state.ids(), self.warnings)

    def calendar(self, path: str, spec: schemas.CalendarCreate) -> None:
        if spec.holiday_country is not None and _round_the_clock(spec.windows):
            self.warnings.append(
                ManifestError(
                    rules.join(path, "holiday_country"),
                    f"{spec.code} is open 24 hours every day but closed on {spec.holiday_country} public "
                    f"holidays; say holiday_country: {schemas.NO_HOLIDAYS} if it never closes",
                )
            )
        row = self.state.calendars.get(spec.code)
        current = calendar_spec(row) if row else None
        self.compare(
            "calendar", spec.code, path, spec, current, CALENDAR_FIELDS, row_id=row.id if row else None
        )

    def client(self, path: str, spec: ManifestClient) -> None:
        # Without a zone of its own, a client works in the tenant's.
        desired = replace(spec, time_zone=spec.time_zone or self.manifest.tenant.time_zone)
        row = self.state.clients.get(spec.code)
        current = client_spec(row) if row else None
        self.compare(
            "client", spec.code, path, desired, current, CLIENT_FIELDS, row_id=row.id if row else None
        )

    def site(self, path: str, spec: ManifestSite) -> None:
        row = self.state.sites.get(spec.code)
        current = site_spec(row, self.state.codes) if row else None
        self.compare("site", spec.code, path, spec, current, SITE_FIELDS, row_id=row.id if row else None)

    def service(self, path: str, client: ManifestClient, spec: ManifestService) -> None:
        row = self.state.services.get((client.code, spec.code))
        current = service_spec(row) if row else None
        key = f"{client.code}/{spec.code}"
        row_id = row.id if row else None
        self.compare("service", key, path, spec, current, SERVICE_FIELDS, row_id=row_id, owner=client.code)

    def user(self, path: str, spec: ManifestUser) -> None:
        email = normalize_email(spec.email)
        existing = self.state.users.get(email)
        current = user_spec(existing, self.state.codes) if existing else None
        row_id = existing.id if existing else None
        self.compare("user", email, path, replace(spec, email=email), current, USER_FIELDS, row_id=row_id)

    def staff(self, path: str, spec: ManifestStaff) -> None:
        existing = self.state.staff.get(spec.code)
        current = staff_spec(existing, self.state.codes) if existing else None
        desired = replace(spec, user=normalize_email(spec.user) if spec.user else None)
        row_id = existing.id if existing else None
        self.compare("staff", spec.code, path, desired, current, STAFF_FIELDS, row_id=row_id)

    def report(self, path: str, spec: ManifestReport, tenant_language: Language) -> None:
        client_zone = next((c.time_zone for c in self.manifest.clients if c.code == spec.client), None)
        hours, minutes = spec.send_at.split(":")
        # Every default spelled out as the service would fill it in: the client's zone, the tenant's language.
        desired = replace(
            spec,
            send_at=f"{int(hours):02d}:{minutes}",
            time_zone=spec.time_zone or client_zone or self.manifest.tenant.time_zone,
            language=spec.language or tenant_language,
        )
        existing = self.state.reports.get((spec.client, spec.cadence))
        current = report_spec(existing, self.state.codes) if existing else None
        row_id = existing.id if existing else None
        key = f"{spec.client}/{spec.cadence}"
        self.compare("report", key, path, desired, current, REPORT_FIELDS, row_id=row_id, owner=spec.client)

    def desired_contract(self, client: ManifestClient, contract: ManifestContract) -> ManifestContract:
        return replace(
            contract,
            currency=contract.currency or client.currency,
            billable_event=contract.billable_event or defaults.BILLABLE_EVENT[contract.work_type],
        )

    def contract(self, path: str, client: ManifestClient, spec: ManifestContract) -> None:
        row = self.state.contracts.get(spec.code)
        desired = self.desired_contract(client, spec)
        current = (
            contract_spec(row, self.state.codes, self.state.voice_categories.get(row.id)) if row else None
        )
        if current is not None and row is not None:
            stored = self.state.escalation_rules.get(row.id)
            current = replace(current, escalation_rules=escalation_rules_spec(stored))
        status = Status(row.status) if row else Status.DRAFT
        if current is not None and desired.status is Status.ENDED and spec.end_date is None:
            # Ending a contract dates it; a file that says only "ended" keeps that date.
            desired = replace(desired, end_date=current.end_date)
        if row is not None and self.state.codes[row.client_id] != client.code:
            owner = self.state.codes[row.client_id]
            self.error(rules.join(path, "code"), f"contract {spec.code} belongs to client {owner}")
        route: tuple[Status, ...] = ()
        if desired.status is not status:
            route = _route(status, desired.status) or ()
            if not route:
                self.error(rules.join(path, "status"), f"a {status} contract cannot become {desired.status}")
            elif Status.ACTIVE in route[1:] and not (
                rate_versions(spec) or (row is not None and self.state.rate_plans.get(row.id))
            ):
                self.error(rules.join(path, "status"), "a contract needs a rate plan to become active")
        change = self.compare(
            "contract", spec.code, path, desired, current, CONTRACT_FIELDS, row_id=row.id if row else None,
            owner=client.code, route=route, extra=("status",) if route else (),
        )  # fmt: skip
        if status is Status.ENDED and change.action is Action.UPDATE:
            self.error(path, f"contract {spec.code} has ended and can no longer change")

    def versions(self, path: str, client: ManifestClient, spec: ManifestContract) -> None:
        """SLA policy and rate plan versions by effective date, oldest first: a live contract takes a new
        version only after its latest."""
        row = self.state.contracts.get(spec.code)
        contract_id = row.id if row else None
        currency = self.desired_contract(client, spec).currency or client.currency
        policies = {p.effective_from: p for p in self.state.sla_policies.get(row.id, [])} if row else {}
        plans = {p.effective_from: p for p in self.state.rate_plans.get(row.id, [])} if row else {}
        changes: list[tuple[date, Change]] = []
        for version_path, policy in sla_versions(spec, path):
            when = policy.effective_from or spec.start_date
            stored_policy = policies.get(when)
            changes.append((when, self.compare(
                "sla_policy", f"{spec.code} from {when}", version_path, replace(policy, effective_from=when),
                sla_policy_spec(stored_policy) if stored_policy else None, SLA_FIELDS,
                row_id=contract_id, owner=spec.code, add=False,
            )))  # fmt: skip
        for version_path, rate in rate_versions(spec, path):
            when = rate.effective_from or spec.start_date
            stored_plan = plans.get(when)
            changes.append((when, self.compare(
                "rate_plan", f"{spec.code} from {when}", version_path,
                replace(rate, effective_from=when, currency=rate.currency or currency),
                rate_plan_spec(stored_plan) if stored_plan else None, RATE_FIELDS,
                row_id=contract_id, owner=spec.code, add=False,
            )))  # fmt: skip
        status = Status(row.status) if row else Status.DRAFT
        for when, change in sorted(changes, key=lambda c: (c[1].kind != "sla_policy", c[0])):
            self.changes.append(change)
            if change.action is Action.UNCHANGED:
                continue
            if status is Status.ENDED:
                self.error(change.path, f"contract {spec.code} has ended and can no longer change")
            elif change.action is Action.UPDATE and status is not Status.DRAFT:
                self.error(
                    change.path,
                    f"version {when} of contract {spec.code} differs ({', '.join(change.fields)}); "
                    "versions are immutable once live — add a new version",
                )


async def plan(session: AsyncSession, scope: Scope, manifest: Manifest) -> Plan:
    """What applying ``manifest`` to the scope's tenant would do, object by object."""
    return _Planner(manifest, await load_inventory(session, scope), tenant_exists=True).run()


# --- apply -----------------------------------------------------------------------------------


async def set_escalation_rules(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, spec: ManifestEscalationRules
) -> None:
    updates = {
        severity: escalation_schemas.EscalationRuleUpdate(
            notify_viewers=rule.notify_viewers,
            extra_recipients=rule.extra_recipients,
            acknowledge_within_minutes=rule.acknowledge_within_minutes,
        )
        for severity in escalation_schemas.SEVERITIES
        for rule in [getattr(spec, severity)]
    }
    await escalation_rules.set_rules(
        session, scope, contract_id, escalation_schemas.EscalationRulesUpdate(**updates)
    )


class _Applier:
    def __init__(
        self, session: AsyncSession, scope: Scope, plan: Plan, today: date, demo_password: str | None
    ) -> None:
        self.session = session
        self.scope = scope
        self.ids = plan.ids.copy()
        self.today = today
        self.demo_password = demo_password if plan.manifest.tenant.demo else None
        if plan.manifest.tenant.demo and demo_password is None:
            raise ValueError("a demo manifest needs the demo password")
        self.passwords: dict[str, str] = {}
        self.steps: dict[str, Callable[[Change], Awaitable[None]]] = {
            "tenant": self.tenant,
            "calendar": self.calendar,
            "client": self.client,
            "site": self.site,
            "service": self.service,
            "contract": self.contract,
            "sla_policy": self.sla_policy,
            "rate_plan": self.rate_plan,
            "status": self.status,
            "user": self.user,
            "staff": self.staff,
            "report": self.report,
        }

    async def run(self, changes: Sequence[Change]) -> None:
        for phase in PHASES:
            for change in changes:
                if phase == "status":
                    due = change.kind == "contract" and bool(change.route)
                else:
                    due = change.kind == phase and change.action is not Action.UNCHANGED
                if not due:
                    continue
                try:
                    await self.steps[phase](change)
                except BpoError as exc:
                    # Name the place in the file, not the API field.
                    exc.errors = [
                        field_error(rules.join(change.path, e["field"]), e["message"]) for e in exc.errors
                    ] or [field_error(change.path, exc.detail)]
                    exc.detail = f"{change.path}: {exc.detail}"
                    raise

    def values(self, change: Change, names: Sequence[str]) -> dict[str, Any]:
        return {name: getattr(change.spec, name) for name in names if name in change.fields}

    async def tenant(self, change: Change) -> None:
        values = self.values(change, TENANT_FIELDS)
        if values:
            update = tenancy_schemas.TenantSettingsUpdate(**values)
            await tenancy.update_tenant_settings(self.session, self.scope, update)
        if "issuer" in change.fields:
            issuer = change.spec.issuer or ManifestIssuer()
            data = billing_schemas.BillingIssuerUpdate(
                address=issuer.address, bank_account=issuer.bank_account
            )
            await account.update_issuer(self.session, self.scope, data)

    async def calendar(self, change: Change) -> None:
        spec: schemas.CalendarCreate = change.spec
        if change.action is Action.CREATE:
            created = await service.create_calendar(self.session, self.scope, spec)
            self.ids.calendars[spec.code] = created.id
            return
        assert change.row_id is not None
        update = schemas.CalendarUpdate(**self.values(change, CALENDAR_FIELDS))
        await service.update_calendar(self.session, self.scope, change.row_id, update)

    async def client(self, change: Change) -> None:
        spec: ManifestClient = change.spec
        if change.action is Action.CREATE:
            data = schemas.ClientCreate(
                **{f: getattr(spec, f) for f in schemas.ClientCreate.__struct_fields__}
            )
            assert spec.time_zone is not None
            created = await service.create_client(self.session, self.scope, data, spec.time_zone)
            self.ids.clients[spec.code] = created.id
            return
        assert change.row_id is not None
        update = schemas.ClientUpdate(**self.values(change, CLIENT_FIELDS))
        if isinstance(update.closing_day, int):
            # A manifest's new closing day takes effect from the first period it may: never an open one.
            start = await service.earliest_closing_day_change(self.session, self.scope, change.row_id)
            update = msgspec.structs.replace(update, closing_day_from=start)
        await service.update_client(self.session, self.scope, change.row_id, update)

    async def site(self, change: Change) -> None:
        spec: ManifestSite = change.spec
        if change.action is Action.CREATE:
            data = schemas.SiteCreate(
                code=spec.code,
                name=spec.name,
                kind=spec.kind,
                time_zone=spec.time_zone,
                client_id=self.ids.clients[spec.client] if spec.client else None,
                address=spec.address,
                seat_capacity=spec.seat_capacity,
            )
            self.ids.sites[spec.code] = (await service.create_site(self.session, self.scope, data)).id
            return
        assert change.row_id is not None
        update = schemas.SiteUpdate(**self.values(change, ("name", "time_zone", "address", "seat_capacity")))
        await service.update_site(self.session, self.scope, change.row_id, update)

    async def service(self, change: Change) -> None:
        spec: ManifestService = change.spec
        if change.action is Action.CREATE:
            data = schemas.ServiceCreate(code=spec.code, name=spec.name, description=spec.description)
            created = await service.create_service(
                self.session, self.scope, self.ids.clients[change.owner], data
            )
            self.ids.services[(change.owner, spec.code)] = created.id
            return
        assert change.row_id is not None
        update = schemas.ServiceUpdate(**self.values(change, SERVICE_FIELDS))
        await service.update_service(self.session, self.scope, change.row_id, update)

    async def contract(self, change: Change) -> None:
        spec: ManifestContract = change.spec
        site_id = self.ids.sites[spec.site] if spec.site else None
        if change.action is Action.CREATE:
            data = schemas.ContractCreate(
                service_id=self.ids.services[(change.owner, spec.service)],
                code=spec.code,
                name=spec.name,
                work_type=spec.work_type,
                start_date=spec.start_date,
                calendar_id=self.ids.calendars[spec.calendar],
                staffing_mode=spec.staffing_mode,
                end_date=spec.end_date,
                site_id=site_id,
                coverage=spec.coverage,
                expected_monthly_volume=spec.expected_monthly_volume,
                billable_event=spec.billable_event,
                currency=spec.currency,
                open_shift_approval=spec.open_shift_approval,
            )
            contract_id = (await contracts.create_contract(self.session, self.scope, data)).id
            self.ids.contracts[spec.code] = contract_id
            if spec.voice_categories is not None:
                await voices.set_categories(self.session, self.scope, contract_id, spec.voice_categories)
            if spec.escalation_rules != ManifestEscalationRules():
                await set_escalation_rules(self.session, self.scope, contract_id, spec.escalation_rules)
            return
        values = self.values(
            change,
            (
                "name",
                "end_date",
                "staffing_mode",
                "coverage",
                "open_shift_approval",
                "expected_monthly_volume",
                "billable_event",
            ),
        )
        if "site" in change.fields:
            values["site_id"] = site_id
        if "calendar" in change.fields:
            values["calendar_id"] = self.ids.calendars[spec.calendar]
        if values:
            assert change.row_id is not None
            await contracts.update_contract(
                self.session, self.scope, change.row_id, schemas.ContractUpdate(**values)
            )
        if "voice_categories" in change.fields:
            assert change.row_id is not None
            await voices.set_categories(self.session, self.scope, change.row_id, spec.voice_categories)
        if "escalation_rules" in change.fields:
            assert change.row_id is not None
            await set_escalation_rules(self.session, self.scope, change.row_id, spec.escalation_rules)

    async def sla_policy(self, change: Change) -> None:
        spec: ManifestSlaPolicy = change.spec
        assert spec.effective_from is not None
        data = schemas.SlaPolicyCreate(effective_from=spec.effective_from, objectives=spec.objectives)
        await contracts.add_sla_policy(
            self.session, self.scope, self.ids.contracts[change.owner], data, self.today
        )

    async def rate_plan(self, change: Change) -> None:
        spec: ManifestRatePlan = change.spec
        assert spec.effective_from is not None
        assert spec.currency is not None
        data = schemas.RatePlanCreate(
            effective_from=spec.effective_from,
            currency=spec.currency,
            charges=spec.charges,
            minimum_commitment=spec.minimum_commitment,
            service_credits=spec.service_credits,
            meters=spec.meters,
            surcharges=spec.surcharges,
        )
        await contracts.add_rate_plan(
            self.session, self.scope, self.ids.contracts[change.owner], data, self.today
        )

    async def status(self, change: Change) -> None:
        contract_id = self.ids.contracts[change.key]
        for target in change.route[1:]:
            await contracts.transition_contract(self.session, self.scope, contract_id, target, self.today)

    async def user(self, change: Change) -> None:
        spec: ManifestUser = change.spec
        client_id = self.ids.clients[spec.client] if spec.client else None
        if change.action is Action.CREATE:
            password = self.demo_password or secrets.token_urlsafe(18)
            data = tenancy_schemas.UserCreate(
                email=spec.email,
                role=spec.role,
                password=password,
                full_name=spec.full_name,
                client_id=client_id,
            )
            user = await tenancy_users.create_user(
                self.session,
                self.scope.tenant_id,
                self.scope.user_id,
                data,
                service.require_client_binding,
                # A password printed once by apply is for the first sign-in only.
                must_change_password=self.demo_password is None,
            )
            self.ids.users[user.email] = user.id
            if self.demo_password is None:
                self.passwords[spec.email] = password
            return
        assert change.row_id is not None
        values = self.values(change, ("role", "full_name"))
        if "client" in change.fields:
            values["client_id"] = client_id
        await tenancy_users.update_user(
            self.session,
            self.scope,
            change.row_id,
            tenancy_schemas.UserUpdate(**values),
            service.require_client_binding,
        )

    def staff_values(self, spec: ManifestStaff, names: Sequence[str]) -> dict[str, Any]:
        """The API's values for these manifest fields: codes and emails become ids."""
        values: dict[str, Any] = {}
        for name in names:
            value = getattr(spec, name)
            if name == "user":
                value = self.ids.users[normalize_email(value)] if value else None
            elif name == "sites":
                value = [self.ids.sites[code] for code in value]
            elif name in ("trained_contracts", "excluded_contracts") and value is not None:
                value = [self.ids.contracts[code] for code in value]
            values[STAFF_REFERENCES.get(name, name)] = value
        return values

    async def staff(self, change: Change) -> None:
        spec: ManifestStaff = change.spec
        if change.action is Action.CREATE:
            data = staffing_schemas.StaffCreate(code=spec.code, **self.staff_values(spec, STAFF_FIELDS))
            self.ids.staff[spec.code] = (await staffing.create_staff(self.session, self.scope, data)).id
            return
        assert change.row_id is not None
        update = staffing_schemas.StaffUpdate(**self.staff_values(spec, change.fields))
        await staffing.update_staff(self.session, self.scope, change.row_id, update)

    def report_values(self, spec: ManifestReport, names: Sequence[str]) -> dict[str, Any]:
        """The API's values for these manifest fields: contract codes become ids."""
        values = {name: getattr(spec, name) for name in names if name != "contracts"}
        if "contracts" in names:
            values["contract_ids"] = [self.ids.contracts[code] for code in spec.contracts]
        return values

    async def report(self, change: Change) -> None:
        spec: ManifestReport = change.spec
        if change.action is Action.CREATE:
            data = report_schemas.SubscriptionCreate(
                cadence=spec.cadence, **self.report_values(spec, REPORT_FIELDS)
            )
            await reports.create_subscription(self.session, self.scope, self.ids.clients[change.owner], data)
            return
        assert change.row_id is not None
        update = report_schemas.SubscriptionUpdate(**self.report_values(spec, change.fields))
        await reports.update_subscription(self.session, self.scope, change.row_id, update)


async def apply(
    session: AsyncSession, scope: Scope, plan: Plan, *, demo_password: str | None = None
) -> dict[str, str]:
    """Carry out ``plan`` in the caller's transaction, in dependency order. Returns the one-time passwords
    of the users it created (none for a demo tenant: they get ``demo_password``); existing users keep
    theirs."""
    if plan.errors:
        raise ManifestRejected(plan.errors)
    applier = _Applier(session, scope, plan, await tenancy.tenant_today(session, scope), demo_password)
    await applier.run(plan.changes)
    return applier.passwords


# --- a tenant from a file --------------------------------------------------------------------


async def acting_scope(
    session: AsyncSession, tenant_id: uuid.UUID, manifest: Manifest | None = None
) -> Scope:
    """Manifests are applied by an operator with database access, on behalf of one of the tenant's
    admins, so audit events name a person: the first admin the manifest lists, else the longest-standing
    active admin."""
    # Listing users reads only the scope's tenant; the principal is chosen from that list.
    lookup = system_scope(tenant_id)
    admins = [u for u in await all_users(session, lookup, Role.ADMIN) if u.is_active]
    wanted = [normalize_email(u.email) for u in manifest.users if u.role is Role.ADMIN] if manifest else []
    admins.sort(key=lambda u: (wanted.index(u.email) if u.email in wanted else len(wanted), u.id))
    if not admins:
        raise Conflict("The tenant has no active admin to act as.", slug="no-admin")
    return acting_admin_scope(tenant_id, admins[0].id)


async def tenant_id_of(runtime: Runtime, slug: str) -> uuid.UUID | None:
    try:
        return await tenant_id_for(runtime, slug)
    except NotFound:
        return None


async def read_manifest(runtime: Runtime, text: str) -> tuple[Manifest | None, list[ManifestError]]:
    """``load_manifest`` for the tenant the file names, as it stands: a manifest that creates its tenant
    must name an admin, and that is found with every other mistake, before any plan."""
    slug = declared_slug(text)
    new_tenant = slug is not None and await tenant_id_of(runtime, slug) is None
    return load_manifest(text, new_tenant=new_tenant)


async def plan_manifest(runtime: Runtime, manifest: Manifest) -> Plan:
    """The plan for the manifest's tenant; for a tenant that does not exist yet, everything is new."""
    tenant_id = await tenant_id_of(runtime, manifest.tenant.slug)
    if tenant_id is None:
        return _Planner(manifest, Inventory(), tenant_exists=False).run()
    async with runtime.db.tenant(tenant_id) as session:
        return await plan(session, await acting_scope(session, tenant_id, manifest), manifest)


@dataclass
class Applied:
    plan: Plan
    tenant_created: bool
    # One-time passwords of the users created, by email.
    passwords: dict[str, str]


async def apply_manifest(
    runtime: Runtime, manifest: Manifest, *, demo_password: str | None = None
) -> Applied:
    """Create the tenant when its slug is new (its first admin from the manifest), then plan again and
    apply in one transaction: either all of the plan is written or none of it."""
    tenant_id = await tenant_id_of(runtime, manifest.tenant.slug)
    passwords: dict[str, str] = {}
    created = None
    if tenant_id is None:
        first = _Planner(manifest, Inventory(), tenant_exists=False).run()
        if first.errors:
            raise ManifestRejected(first.errors)
        admin = next(u for u in manifest.users if u.role is Role.ADMIN)
        created = await tenancy.create_tenant(
            runtime,
            tenancy_schemas.TenantCreate(
                slug=manifest.tenant.slug,
                name=manifest.tenant.name,
                admin_email=admin.email,
                admin_password=demo_password if manifest.tenant.demo else None,
                time_zone=manifest.tenant.time_zone,
                default_language=manifest.tenant.default_language,
            ),
        )
        tenant_id = created.tenant.id
        if created.admin_password:
            passwords[created.admin.email] = created.admin_password
    async with runtime.db.tenant(tenant_id) as session:
        scope = await acting_scope(session, tenant_id, manifest)
        executed = await plan(session, scope, manifest)
        passwords |= await apply(session, scope, executed, demo_password=demo_password)
    return Applied(plan=executed, tenant_created=created is not None, passwords=passwords)
