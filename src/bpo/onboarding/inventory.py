"""What a tenant has, in the terms of its manifest: loaded once for a plan or an export, and written back
as a manifest by ``export``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from msgspec.structs import replace
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import account
from bpo.clients import contracts, defaults, schemas, service
from bpo.clients.models import BusinessCalendar, Client, Contract, RatePlan, Service, Site, SlaPolicy
from bpo.core.i18n import language_for_zone
from bpo.core.scope import Role, Scope
from bpo.onboarding.manifest import (
    Manifest,
    ManifestClient,
    ManifestContract,
    ManifestEscalationRule,
    ManifestEscalationRules,
    ManifestIssuer,
    ManifestRatePlan,
    ManifestReport,
    ManifestService,
    ManifestSite,
    ManifestSlaPolicy,
    ManifestStaff,
    ManifestTenant,
    ManifestUser,
    issuer_or_none,
)
from bpo.reports import schemas as report_schemas
from bpo.reports import service as reports
from bpo.staffing import schemas as staffing_schemas
from bpo.staffing import service as staffing
from bpo.tenancy import schemas as tenancy_schemas
from bpo.tenancy import service as tenancy
from bpo.tenancy import users as tenancy_users
from bpo.work import escalation_rules
from bpo.work.escalations_schemas import Severity
from bpo.work.voices import schemas as voice_schemas
from bpo.work.voices import service as voices


@dataclass
class Ids:
    """Row ids by human code."""

    calendars: dict[str, uuid.UUID] = field(default_factory=dict)
    clients: dict[str, uuid.UUID] = field(default_factory=dict)
    sites: dict[str, uuid.UUID] = field(default_factory=dict)
    # By (client code, service code): service codes are unique per client.
    services: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)
    contracts: dict[str, uuid.UUID] = field(default_factory=dict)
    # Users by email, staff by code.
    users: dict[str, uuid.UUID] = field(default_factory=dict)
    staff: dict[str, uuid.UUID] = field(default_factory=dict)

    def copy(self) -> Ids:
        return Ids(
            dict(self.calendars),
            dict(self.clients),
            dict(self.sites),
            dict(self.services),
            dict(self.contracts),
            dict(self.users),
            dict(self.staff),
        )


@dataclass
class Inventory:
    tenant: ManifestTenant | None = None
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    sites: dict[str, Site] = field(default_factory=dict)
    services: dict[tuple[str, str], Service] = field(default_factory=dict)
    contracts: dict[str, Contract] = field(default_factory=dict)
    # Versions by contract id, oldest first.
    sla_policies: dict[uuid.UUID, list[SlaPolicy]] = field(default_factory=dict)
    rate_plans: dict[uuid.UUID, list[RatePlan]] = field(default_factory=dict)
    users: dict[str, tenancy_schemas.User] = field(default_factory=dict)
    # Staff profiles that have a code, by code.
    staff: dict[str, staffing_schemas.Staff] = field(default_factory=dict)
    # Escalation rules of the contracts that have any stored, by contract id.
    escalation_rules: dict[uuid.UUID, dict[Severity, escalation_rules.Rule]] = field(default_factory=dict)
    # Report subscriptions by (client code, cadence).
    reports: dict[tuple[str, str], report_schemas.Subscription] = field(default_factory=dict)
    # The voice categories contracts named themselves, by contract id (absent: the default list).
    voice_categories: dict[uuid.UUID, list[voice_schemas.VoiceCategory]] = field(default_factory=dict)
    # The code of every calendar, client, site, service and contract (a user's email) by id.
    codes: dict[uuid.UUID, str] = field(default_factory=dict)

    def ids(self) -> Ids:
        return Ids(
            calendars={code: row.id for code, row in self.calendars.items()},
            clients={code: row.id for code, row in self.clients.items()},
            sites={code: row.id for code, row in self.sites.items()},
            services={key: row.id for key, row in self.services.items()},
            contracts={code: row.id for code, row in self.contracts.items()},
            users={email: user.id for email, user in self.users.items()},
            staff={code: person.id for code, person in self.staff.items()},
        )


Row = TypeVar("Row", BusinessCalendar, Client, Site, Service, Contract, SlaPolicy, RatePlan)


async def _rows(session: AsyncSession, scope: Scope, model: type[Row]) -> Sequence[Row]:
    statement = select(model).where(model.tenant_id == scope.tenant_id).order_by(model.id)
    return (await session.scalars(statement)).all()


async def all_users(
    session: AsyncSession, scope: Scope, role: Role | None = None
) -> list[tenancy_schemas.User]:
    users: list[tenancy_schemas.User] = []
    cursor = None
    while True:
        page = await tenancy_users.list_users(session, scope, limit=200, cursor=cursor, role=role)
        users += page.items
        if page.next_cursor is None:
            return users
        cursor = page.next_cursor


async def load_inventory(session: AsyncSession, scope: Scope) -> Inventory:
    settings = await tenancy.tenant_settings(session, scope)
    issuer = await account.current_issuer(session, scope)
    inventory = Inventory(
        tenant=ManifestTenant(
            slug=settings.slug,
            name=settings.name,
            time_zone=settings.time_zone,
            invoice_registration_number=settings.invoice_registration_number,
            default_language=settings.default_language,
            issuer=issuer_or_none(ManifestIssuer(address=issuer.address, bank_account=issuer.bank_account)),
        )
    )
    codes = inventory.codes
    for calendar in await _rows(session, scope, BusinessCalendar):
        inventory.calendars[calendar.code] = calendar
        codes[calendar.id] = calendar.code
    for client in await _rows(session, scope, Client):
        inventory.clients[client.code] = client
        codes[client.id] = client.code
    for site in await _rows(session, scope, Site):
        inventory.sites[site.code] = site
        codes[site.id] = site.code
    for offered in await _rows(session, scope, Service):
        inventory.services[(codes[offered.client_id], offered.code)] = offered
        codes[offered.id] = offered.code
    for contract in await _rows(session, scope, Contract):
        inventory.contracts[contract.code] = contract
        codes[contract.id] = contract.code
    for policy in sorted(await _rows(session, scope, SlaPolicy), key=lambda p: p.effective_from):
        inventory.sla_policies.setdefault(policy.contract_id, []).append(policy)
    for plan in sorted(await _rows(session, scope, RatePlan), key=lambda p: p.effective_from):
        inventory.rate_plans.setdefault(plan.contract_id, []).append(plan)
    inventory.users = {user.email: user for user in await all_users(session, scope)}
    codes.update({user.id: user.email for user in inventory.users.values()})
    inventory.staff = {p.code: p for p in await staffing.all_staff(session, scope) if p.code is not None}
    inventory.escalation_rules = await escalation_rules.all_rules(session, scope)
    inventory.reports = {
        (codes[s.client_id], s.cadence): s for s in await reports.all_subscriptions(session, scope)
    }
    contract_ids = [row.id for row in inventory.contracts.values()]
    inventory.voice_categories = await voices.stored_categories(session, scope, contract_ids)
    return inventory


# Each stored object as the manifest would declare it, every default spelled out.


def calendar_spec(row: BusinessCalendar) -> schemas.CalendarCreate:
    view = service.calendar_view(row)
    return schemas.CalendarCreate(**{f: getattr(view, f) for f in schemas.CalendarCreate.__struct_fields__})


def client_spec(row: Client) -> ManifestClient:
    return ManifestClient(**{f: getattr(row, f) for f in schemas.ClientCreate.__struct_fields__})


def site_spec(row: Site, codes: dict[uuid.UUID, str]) -> ManifestSite:
    return ManifestSite(
        code=row.code,
        name=row.name,
        kind="client" if row.kind == "client" else "own",
        time_zone=row.time_zone,
        client=codes[row.client_id] if row.client_id else None,
        address=row.address,
        seat_capacity=row.seat_capacity,
    )


def service_spec(row: Service) -> ManifestService:
    return ManifestService(code=row.code, name=row.name, description=row.description)


def contract_spec(
    row: Contract,
    codes: dict[uuid.UUID, str],
    voice_categories: list[voice_schemas.VoiceCategory] | None = None,
) -> ManifestContract:
    view = contracts.contract_view(row)
    return ManifestContract(
        code=view.code,
        name=view.name,
        service=codes[view.service_id],
        work_type=schemas.WorkType(view.work_type),
        start_date=view.start_date,
        calendar=codes[view.calendar_id],
        status=view.status,
        end_date=view.end_date,
        staffing_mode=view.staffing_mode,
        site=codes[view.site_id] if view.site_id else None,
        coverage=view.coverage,
        open_shift_approval=view.open_shift_approval,
        expected_monthly_volume=view.expected_monthly_volume,
        billable_event=view.billable_event,
        currency=view.currency,
        voice_categories=voice_categories,
    )


def escalation_rules_spec(rules: dict[Severity, escalation_rules.Rule] | None) -> ManifestEscalationRules:
    """A contract's stored rules as its manifest declares them (the defaults where it has none)."""
    found = rules or escalation_rules.DEFAULT_RULES
    return ManifestEscalationRules(
        **{
            severity: ManifestEscalationRule(
                acknowledge_within_minutes=rule.acknowledge_within_minutes,
                notify_viewers=rule.notify_viewers,
                extra_recipients=list(rule.extra_recipients),
            )
            for severity, rule in found.items()
        }
    )


def sla_policy_spec(row: SlaPolicy) -> ManifestSlaPolicy:
    view = contracts.policy_view(row, None)
    return ManifestSlaPolicy(objectives=view.objectives, effective_from=view.effective_from)


def rate_plan_spec(row: RatePlan) -> ManifestRatePlan:
    view = contracts.plan_view(row, None)
    return ManifestRatePlan(
        charges=view.charges,
        effective_from=view.effective_from,
        currency=view.currency,
        minimum_commitment=view.minimum_commitment,
        service_credits=view.service_credits,
        meters=view.meters,
        surcharges=view.surcharges,
    )


def user_spec(user: tenancy_schemas.User, codes: dict[uuid.UUID, str]) -> ManifestUser:
    return ManifestUser(
        email=user.email,
        role=user.role,
        full_name=user.full_name,
        client=codes[user.client_id] if user.client_id else None,
    )


def staff_spec(person: staffing_schemas.Staff, codes: dict[uuid.UUID, str]) -> ManifestStaff:
    assert person.code is not None
    return ManifestStaff(
        code=person.code,
        display_name=person.display_name,
        given_name=person.given_name,
        home_zone=person.home_zone,
        country=person.country,
        user=codes[person.user_id] if person.user_id else None,
        email=person.email,
        employment_type=person.employment_type,
        skills=person.skills,
        languages=person.languages,
        sites=[codes[site_id] for site_id in person.site_ids],
        trained_contracts=(
            [codes[c] for c in person.trained_contract_ids]
            if person.trained_contract_ids is not None
            else None
        ),
        excluded_contracts=[codes[c] for c in person.excluded_contract_ids],
        weekly_hour_cap=person.weekly_hour_cap,
        contracted_hours=person.contracted_hours,
        hourly_cost=person.hourly_cost,
        availability=person.availability,
        active=person.active,
        max_consecutive_days=person.max_consecutive_days,
        monthly_overtime_hours=person.monthly_overtime_hours,
        yearly_overtime_hours=person.yearly_overtime_hours,
    )


def report_spec(subscription: report_schemas.Subscription, codes: dict[uuid.UUID, str]) -> ManifestReport:
    return ManifestReport(
        client=codes[subscription.client_id],
        cadence=subscription.cadence,
        weekday=subscription.weekday,
        day_of_month=subscription.day_of_month,
        send_at=subscription.send_at,
        time_zone=subscription.time_zone,
        language=subscription.language,
        include_viewers=subscription.include_viewers,
        extra_recipients=subscription.extra_recipients,
        # A contract is archived, never deleted; one gone all the same is no longer reported on.
        contracts=[codes[c] for c in subscription.contract_ids if c in codes],
        active=subscription.active,
    )


async def export(session: AsyncSession, scope: Scope) -> Manifest:
    """The tenant as a manifest, in a normal form: sorted by code, email and date, every version listed
    (``sla_policies``, ``rate_plans``), and values that equal what the file would default to left out (a
    client in the tenant's zone, a contract in its client's currency or with its work type's billable
    event, a rate plan in its contract's currency, a contract measured only by its work type's default
    objectives from its start, a report in its client's zone and the tenant's language). Staff profiles
    without a code are left out: manifests match staff by code."""
    inventory = await load_inventory(session, scope)
    assert inventory.tenant is not None
    clients = []
    for code, row in sorted(inventory.clients.items()):
        client = client_spec(row)
        services = [service_spec(s) for (owner, _), s in sorted(inventory.services.items()) if owner == code]
        owned = [c for _, c in sorted(inventory.contracts.items()) if c.client_id == row.id]
        clients.append(
            replace(
                client,
                time_zone=None if client.time_zone == inventory.tenant.time_zone else client.time_zone,
                services=services,
                contracts=[_exported_contract(inventory, c, client) for c in owned],
            )
        )
    tenant = inventory.tenant
    if tenant.default_language == language_for_zone(tenant.time_zone):
        tenant = replace(tenant, default_language=None)
    return Manifest(
        tenant=tenant,
        users=[user_spec(u, inventory.codes) for _, u in sorted(inventory.users.items())],
        sites=[site_spec(s, inventory.codes) for _, s in sorted(inventory.sites.items())],
        calendars=[calendar_spec(c) for _, c in sorted(inventory.calendars.items())],
        clients=clients,
        staff=[staff_spec(p, inventory.codes) for _, p in sorted(inventory.staff.items())],
        reports=[_exported_report(inventory, s) for _, s in sorted(inventory.reports.items())],
    )


def _exported_report(inventory: Inventory, subscription: report_schemas.Subscription) -> ManifestReport:
    report = report_spec(subscription, inventory.codes)
    client = inventory.clients[report.client]
    assert inventory.tenant is not None
    return replace(
        report,
        time_zone=None if report.time_zone == client.time_zone else report.time_zone,
        language=None if report.language == inventory.tenant.default_language else report.language,
    )


def _exported_contract(inventory: Inventory, row: Contract, client: ManifestClient) -> ManifestContract:
    contract = contract_spec(row, inventory.codes, inventory.voice_categories.get(row.id))
    policies = [sla_policy_spec(p) for p in inventory.sla_policies.get(row.id, [])]
    if [(p.effective_from, p.objectives) for p in policies] == [
        (contract.start_date, defaults.OBJECTIVES[contract.work_type])
    ]:
        policies = []
    plans = [rate_plan_spec(p) for p in inventory.rate_plans.get(row.id, [])]
    default_event = defaults.BILLABLE_EVENT[contract.work_type]
    return replace(
        contract,
        currency=None if contract.currency == client.currency else contract.currency,
        billable_event=None if contract.billable_event == default_event else contract.billable_event,
        sla_policies=policies,
        escalation_rules=escalation_rules_spec(inventory.escalation_rules.get(row.id)),
        rate_plans=[
            replace(p, currency=None if p.currency == contract.currency else p.currency) for p in plans
        ],
    )
