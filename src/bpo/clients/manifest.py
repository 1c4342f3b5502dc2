"""Declarative onboarding: ``tenants/<slug>.yaml`` describes an operator's clients, services, calendars,
contracts (with objectives and rate plans), sites and users. ``bpo tenants apply`` validates the whole
file, prints a plan, and upserts by human codes through the same services as the REST API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec

from bpo.clients import schemas
from bpo.clients.schemas import Code, Currency, MinorUnits, Name, Strict, Text, TimeZone
from bpo.tenancy.scope import Role

Slug = Annotated[str, msgspec.Meta(min_length=2, max_length=63, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class ManifestTenant(Strict):
    slug: Slug
    name: Name
    time_zone: TimeZone = "Asia/Tokyo"
    invoice_registration_number: Annotated[str, msgspec.Meta(pattern=r"^T\d{13}$")] | None = None
    # Demo data: new users get BPO_DEMO_PASSWORD instead of a generated one-time password.
    demo: bool = False


class ManifestUser(Strict):
    email: Email
    role: Role
    full_name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    # The client code a client_viewer is bound to.
    client: Code | None = None


class ManifestSite(Strict):
    code: Code
    name: Name
    kind: Literal["own", "client"]
    time_zone: TimeZone
    client: Code | None = None
    address: Text = ""
    seat_capacity: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None


class ManifestService(Strict):
    code: Code
    name: Name
    description: Text = ""


class ManifestSlaPolicy(Strict):
    objectives: list[schemas.Objective]
    # Defaults to the contract's start date.
    effective_from: date | None = None


class ManifestRatePlan(Strict):
    charges: list[schemas.Charge]
    effective_from: date | None = None
    # Defaults to the contract's currency.
    currency: Currency | None = None
    minimum_commitment: MinorUnits | None = None
    service_credits: list[schemas.ServiceCredit] = []


class ManifestContract(Strict):
    code: Code
    name: Name
    service: Code
    work_type: schemas.WorkType
    start_date: date
    calendar: Code
    status: schemas.ContractStatus = schemas.ContractStatus.DRAFT
    end_date: date | None = None
    staffing_mode: schemas.StaffingMode = schemas.StaffingMode.REMOTE
    site: Code | None = None
    coverage: list[schemas.CoverageLine] = []
    expected_monthly_volume: Annotated[int, msgspec.Meta(ge=0)] | None = None
    billable_event: schemas.BillableEvent | None = None
    currency: Currency | None = None
    # Shorthand for one SLA version from the start date; or list every version in sla_policies.
    objectives: list[schemas.Objective] | None = None
    sla_policies: list[ManifestSlaPolicy] = []
    # Shorthand for one rate plan version; or list every version in rate_plans.
    rate_plan: ManifestRatePlan | None = None
    rate_plans: list[ManifestRatePlan] = []


class ManifestClient(schemas.ClientCreate, kw_only=True):
    services: list[ManifestService] = []
    contracts: list[ManifestContract] = []


class Manifest(Strict):
    tenant: ManifestTenant
    users: list[ManifestUser] = []
    sites: list[ManifestSite] = []
    calendars: list[schemas.CalendarCreate] = []
    clients: list[ManifestClient] = []


def manifest_json_schema() -> dict[str, object]:
    """The JSON Schema editors use to validate manifests, generated from the same types."""
    schema: dict[str, object] = msgspec.json.schema(Manifest)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "BPO Ops tenant manifest"
    return schema
