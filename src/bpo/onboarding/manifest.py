"""Declarative onboarding: ``tenants/<slug>.yaml`` describes an operator's clients, services, calendars,
contracts (with objectives and rate plans), sites, users, staff and scheduled client reports.
``bpo tenants apply`` validates the whole file, prints a plan, and upserts by human codes through the
same services as the REST API (``onboarding.py``); ``bpo tenants export`` writes a tenant back in this
format (``inventory.py``).

The format's rules:
- Objects are matched by code (users by email, versions by ``effective_from``, staff by their employee
  code, reports by client and cadence); a file describes what it lists completely, so an optional field
  left out means its default, not "leave as is". Objects and versions it does not list are left alone:
  apply never deletes.
- A file is complete for what it names: a contract's calendar, site and service, a site's or a user's
  client, a staff member's login, sites and contracts, a report's client and contracts must be declared
  in the same file. It validates without a database, and a plan never depends on objects the reader
  cannot see.
- Defaults that depend on other objects: a client works in the tenant's zone, a contract bills in its
  client's currency by its work type's billable event, a version runs from the contract's start, a rate
  plan is in its contract's currency; a contract without objectives is measured by its work type's.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Iterator
from datetime import date
from enum import Enum
from typing import Annotated, Any, Literal

import msgspec
import yaml
from msgspec.structs import replace

from bpo.billing import schemas as billing_schemas
from bpo.clients import contracts, defaults, rules, schemas, service
from bpo.core.errors import FieldErrors
from bpo.core.i18n import Language, language_for_zone
from bpo.core.scope import Role
from bpo.core.types import Code, Currency, MinorUnits, Name, Strict, Text, TimeZone
from bpo.core.validation import INVALID, Walker, did_you_mean
from bpo.reports import schemas as report_schemas
from bpo.reports import service as reports
from bpo.staffing import schemas as staffing_schemas
from bpo.staffing import service as staffing
from bpo.tenancy.emails import normalize_email
from bpo.work import escalation_rules
from bpo.work import escalations_schemas as escalation_schemas
from bpo.work.voices import schemas as voice_schemas
from bpo.work.voices import service as voices

Slug = Annotated[
    str,
    msgspec.Meta(
        min_length=2,
        max_length=63,
        pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?!\n)$",
        description="The tenant's short name: lower-case letters, digits and inner hyphens",
        examples=["acme", "demo"],
        extra={"expected": "a slug of lower-case letters, digits and inner hyphens (like acme-bpo)"},
    ),
]
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+(?!\n)$",
        examples=["admin@acme.example"],
        extra={"expected": "an email address like admin@acme.example"},
    ),
]


def _about(text: str, *examples: Any) -> msgspec.Meta:
    return msgspec.Meta(description=text, examples=list(examples) if examples else None)


class ManifestIssuer(Strict):
    """The operator's address and bank account (振込先) printed on its invoices, as ``PUT
    /v1/billing/issuer`` sets them; an invoice keeps the ones it was issued with."""

    address: (
        Annotated[billing_schemas.IssuerAddress, _about("Postal code, one to four lines, and a phone number")]
        | None
    ) = None
    bank_account: (
        Annotated[billing_schemas.BankAccount, _about("Where clients pay by bank transfer")] | None
    ) = None


def issuer_or_none(issuer: ManifestIssuer | None) -> ManifestIssuer | None:
    """An issuer with neither part is none at all."""
    if issuer is None or (issuer.address is None and issuer.bank_account is None):
        return None
    return issuer


class ManifestTenant(Strict):
    """The operator this file describes, matched by slug; created by the first apply."""

    slug: Slug
    name: Annotated[Name, _about("The operator's name, as on invoices", "Acme BPO K.K.")]
    time_zone: Annotated[
        TimeZone, _about("IANA zone of the operator; clients work in it unless they say", "Asia/Tokyo")
    ] = "Asia/Tokyo"
    invoice_registration_number: (
        Annotated[
            str,
            msgspec.Meta(
                pattern=r"^T\d{13}(?!\n)$",
                description="Japanese qualified invoice issuer number, printed on invoices",
                examples=["T1234567890123"],
                extra={"expected": "T followed by 13 digits, like T1234567890123"},
            ),
        ]
        | None
    ) = None
    default_language: (
        Annotated[
            Language,
            _about("What users who choose no language read; without it, ja in Japan's zone, else en", "ja"),
        ]
        | None
    ) = None
    issuer: Annotated[ManifestIssuer, _about("Address and bank account printed on invoices")] | None = None
    demo: Annotated[
        bool, _about("Demo data: new users get BPO_DEMO_PASSWORD instead of a one-time password")
    ] = False


class ManifestUser(Strict):
    """A login, matched by email. A new tenant needs an admin; the first listed becomes its owner. New
    users get a one-time password, printed once by apply."""

    email: Email
    role: Annotated[Role, _about("What the user may do", "admin", "supervisor", "client_viewer")]
    full_name: Annotated[str, msgspec.Meta(max_length=200, examples=["Aiko Tanaka"])] = ""
    client: Annotated[Code, _about("For a client_viewer only: the code of the client it may see")] | None = (
        None
    )


class ManifestSite(Strict):
    """A place staff work from, matched by code: the operator's own, or a client's (staff stationed)."""

    code: Code
    name: Name
    kind: Annotated[Literal["own", "client"], _about("own: the operator's; client: at a client's premises")]
    time_zone: Annotated[TimeZone, _about("IANA zone of the site", "Asia/Tokyo")]
    client: Annotated[Code, _about("For a client site: the client's code")] | None = None
    address: Text = ""
    seat_capacity: Annotated[int, msgspec.Meta(ge=0, le=100_000, description="Seats for staff")] | None = None


class ManifestService(Strict):
    """A line of work offered to a client, matched by code within the client."""

    code: Code
    name: Name
    description: Text = ""


class ManifestSlaPolicy(Strict, kw_only=True):
    """One version of a contract's service levels, matched by its date; immutable once it is live."""

    effective_from: Annotated[date, _about("From this day; the contract's start date if left out")] | None = (
        None
    )
    objectives: Annotated[list[schemas.Objective], _about("What is measured and the target for each")]


class ManifestRatePlan(Strict, kw_only=True):
    """One version of a contract's prices, matched by its date; immutable once the contract is live."""

    effective_from: Annotated[date, _about("From this day; the contract's start date if left out")] | None = (
        None
    )
    currency: (
        Annotated[Currency, _about("The contract's currency if left out (and must equal it)")] | None
    ) = None
    charges: Annotated[
        list[schemas.Charge], _about("What is billed: per unit, tiered, per hour, monthly fee")
    ]
    minimum_commitment: Annotated[MinorUnits, _about("The least billed for a month")] | None = None
    service_credits: Annotated[
        list[schemas.ServiceCredit], _about("Credits given back when an objective is missed")
    ] = []
    meters: Annotated[
        list[schemas.Meter], _about("What usage charges count besides the contract's billable event")
    ] = []
    surcharges: Annotated[
        list[schemas.Surcharge], _about("More for items received at night or on public holidays")
    ] = []


class ManifestEscalationRule(Strict):
    """Who at the client hears of an escalation of one severity, and how soon they must acknowledge it."""

    acknowledge_within_minutes: escalation_schemas.Minutes
    notify_viewers: Annotated[bool, _about("Tell the client's client_viewer users")] = True
    extra_recipients: escalation_schemas.Recipients = []


def _default_rule(severity: escalation_schemas.Severity) -> ManifestEscalationRule:
    return ManifestEscalationRule(acknowledge_within_minutes=escalation_rules.DEFAULT_MINUTES[severity])


class ManifestEscalationRules(Strict):
    """A contract's escalation rules; a severity left out tells the client's viewers and wants an
    acknowledgement within 15 minutes (critical), 60 (high) or 240 (normal)."""

    critical: ManifestEscalationRule = msgspec.field(default_factory=lambda: _default_rule("critical"))
    high: ManifestEscalationRule = msgspec.field(default_factory=lambda: _default_rule("high"))
    normal: ManifestEscalationRule = msgspec.field(default_factory=lambda: _default_rule("normal"))


class ManifestContract(Strict):
    """An engagement with a client, matched by code across the file: the work, when it is measured, how it
    is staffed, its service levels and its prices."""

    code: Code
    name: Name
    service: Annotated[Code, _about("The code of one of this client's services")]
    work_type: Annotated[
        schemas.WorkType, _about("The kind of work; sets the default objectives and billing")
    ]
    start_date: Annotated[date, _about("First day of the contract", "2026-04-01")]
    calendar: Annotated[Code, _about("The code of the calendar (under calendars) its SLA clock runs on")]
    status: Annotated[
        schemas.ContractStatus, _about("Moves along the lifecycle; active needs a rate plan")
    ] = schemas.ContractStatus.DRAFT
    end_date: date | None = None
    staffing_mode: schemas.StaffingMode = schemas.StaffingMode.REMOTE
    site: (
        Annotated[Code, _about("The code of the site (under sites) an onsite contract is staffed at")] | None
    ) = None
    coverage: Annotated[
        list[schemas.CoverageLine], _about("Weekly windows and the headcount each needs")
    ] = []
    open_shift_approval: Annotated[
        schemas.OpenShiftApproval,
        _about("Who puts a person who claims an open shift on it: a supervisor, or auto (at once)"),
    ] = schemas.OpenShiftApproval.SUPERVISOR
    expected_monthly_volume: Annotated[int, msgspec.Meta(ge=0, description="Work items a month")] | None = (
        None
    )
    billable_event: (
        Annotated[schemas.BillableEvent, _about("What a billed unit is; the work type's if left out")] | None
    ) = None
    currency: Annotated[Currency, _about("The client's currency if left out")] | None = None
    objectives: (
        Annotated[
            list[schemas.Objective],
            _about("Shorthand for one SLA version from start_date; or list every version in sla_policies"),
        ]
        | None
    ) = None
    sla_policies: Annotated[
        list[ManifestSlaPolicy], _about("Every SLA version; without either, the work type's objectives apply")
    ] = []
    rate_plan: (
        Annotated[
            ManifestRatePlan,
            _about("Shorthand for one rate plan version; or list every version in rate_plans"),
        ]
        | None
    ) = None
    rate_plans: Annotated[list[ManifestRatePlan], _about("Every rate plan version")] = []
    voice_categories: (
        Annotated[
            list[voice_schemas.VoiceCategory],
            msgspec.Meta(
                max_length=voice_schemas.MAX_CATEGORIES,
                description="What users' voices are sorted into, in order; without it, the default list",
            ),
        ]
        | None
    ) = None
    escalation_rules: Annotated[
        ManifestEscalationRules,
        _about("Per severity: who at the client hears of an escalation, and how soon they acknowledge it"),
    ] = msgspec.field(default_factory=lambda: ManifestEscalationRules())


class ManifestClient(schemas.ClientCreate, kw_only=True):
    """A customer of the operator, matched by code, with the services it buys and its contracts."""

    services: list[ManifestService] = []
    contracts: list[ManifestContract] = []


class ManifestStaff(Strict):
    """A staff profile, matched by ``code``; its login, sites and contracts by their emails and codes."""

    code: Code
    display_name: Name
    home_zone: TimeZone
    country: staffing_schemas.Country
    given_name: staffing_schemas.GivenName | None = None
    user: Annotated[Email, _about("The email of the login (under users) linked to this profile")] | None = (
        None
    )
    email: Email | None = None
    employment_type: staffing_schemas.EmploymentType = staffing_schemas.EmploymentType.FULL_TIME
    skills: list[staffing_schemas.Proficiency] = []
    languages: list[staffing_schemas.Proficiency] = []
    sites: Annotated[list[Code], _about("Codes of the sites (under sites) the person works at")] = []
    trained_contracts: (
        Annotated[list[Code], _about("Codes of the contracts the person may work on; null: every contract")]
        | None
    ) = None
    excluded_contracts: Annotated[list[Code], _about("Codes of contracts the person never works on")] = []
    weekly_hour_cap: staffing_schemas.Hours = 40
    contracted_hours: staffing_schemas.Hours | None = None
    hourly_cost: staffing_schemas.Money | None = None
    availability: (
        Annotated[
            list[schemas.WindowSpec], _about("Weekly windows in the home zone; null: available at any time")
        ]
        | None
    ) = None
    active: bool = True
    max_consecutive_days: (
        Annotated[
            staffing_schemas.ConsecutiveDays,
            _about("Most working days in a row for this person; null: the tenant's (default 6)", 5),
        ]
        | None
    ) = None
    monthly_overtime_hours: (
        Annotated[
            staffing_schemas.OvertimeHours,
            _about("Overtime cap per month for this person; null: the tenant's (default 45)", 30),
        ]
        | None
    ) = None
    yearly_overtime_hours: (
        Annotated[
            staffing_schemas.OvertimeHours,
            _about("Overtime cap per year for this person; null: the tenant's (default 360)", 240),
        ]
        | None
    ) = None


SendAt = Annotated[
    str,
    msgspec.Meta(
        min_length=4,
        max_length=5,
        pattern=r"^([01]?\d|2[0-3]):[0-5]\d(?!\n)$",
        description="Local time of day the report goes, H:MM or HH:MM",
        examples=["9:00", "18:30"],
        extra={"expected": "a time of day like 9:00 or 18:30"},
    ),
]


class ManifestReport(Strict):
    """A client's scheduled report, matched by client and cadence (a client has at most one weekly and one
    monthly report): when it goes, in which language, to whom and about which contracts."""

    client: Annotated[Code, _about("The code of the client (under clients) the report is for")]
    cadence: Annotated[
        report_schemas.Cadence, _about("weekly: the last ISO week; monthly: the last calendar month")
    ]
    send_at: SendAt
    weekday: (
        Annotated[int, msgspec.Meta(ge=1, le=7, description="For a weekly report: ISO weekday, 1 = Monday")]
        | None
    ) = None
    day_of_month: (
        Annotated[int, msgspec.Meta(ge=1, le=28, description="For a monthly report: its day, 1 to 28")] | None
    ) = None
    time_zone: Annotated[TimeZone, _about("IANA zone of send_at; the client's if left out")] | None = None
    language: Annotated[Language, _about("ja or en; the tenant's default if left out")] | None = None
    include_viewers: Annotated[bool, _about("Mail it to the client's client_viewer users")] = True
    extra_recipients: Annotated[
        list[Email],
        msgspec.Meta(max_length=report_schemas.MAX_RECIPIENTS, description="Addresses beyond the viewers"),
    ] = []
    contracts: Annotated[
        list[Code],
        msgspec.Meta(
            max_length=report_schemas.MAX_CONTRACTS,
            description="Codes of the client's contracts reported on; empty: all of them",
        ),
    ] = []
    active: Annotated[bool, _about("false: paused, nothing goes")] = True


class Manifest(Strict):
    """One operator (tenant) and everything it is set up with. `bpo tenants apply FILE` validates the
    whole file, prints a plan and applies it; objects are matched by code (users by email, versions by
    date) and never deleted. Every code a file refers to must be declared in it."""

    tenant: ManifestTenant
    users: list[ManifestUser] = []
    sites: list[ManifestSite] = []
    calendars: list[schemas.CalendarCreate] = []
    clients: list[ManifestClient] = []
    staff: list[ManifestStaff] = []
    reports: list[ManifestReport] = []


def manifest_json_schema() -> dict[str, object]:
    """The JSON Schema editors use to validate manifests, generated from the same types."""
    schema: dict[str, object] = msgspec.json.schema(Manifest)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "BPO Ops tenant manifest"
    return schema


# --- reading a manifest ----------------------------------------------------------------------


class ManifestError(msgspec.Struct, frozen=True):
    """One mistake in a manifest, at its path in the file (``clients[1].contracts[0].rate_plan``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(top level)'}: {self.message}"


class _Loader(yaml.SafeLoader):
    """YAML with the scalars of YAML 1.2: ``10:00`` and ``25:30`` stay clock strings (YAML 1.1 reads them
    as base-60 numbers), ``NO`` stays Norway, ``2026-04-01`` is left for the schema to read as a date.
    Every scalar it types is typed the same way by YAML 1.1, so files written by any dumper read back."""


# A table of its own: add_implicit_resolver would otherwise start from a copy of YAML 1.1's.
_Loader.yaml_implicit_resolvers = {}


_FLOAT = r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("int", r"^[-+]?(?:0|[1-9][0-9_]*)$", "-+0123456789"),
    ("float", _FLOAT, "-+0123456789."),
    ("merge", r"^(?:<<)$", "<"),
):
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))


# The lists of objects a manifest is made of; an invalid one is left out and the rest still checked.
_COLLECTIONS: frozenset[Any] = frozenset(
    {
        ManifestUser,
        ManifestSite,
        schemas.CalendarCreate,
        ManifestClient,
        ManifestService,
        ManifestContract,
        ManifestStaff,
        ManifestReport,
    }
)


class _Reader(Walker):
    """Converts a parsed manifest piece by piece (``core.validation``): each part that fails is reported
    at its path and left out (or defaulted), and everything else is still checked."""

    def __init__(self) -> None:
        super().__init__()
        # Where an item stood in its list, for lists that lost an invalid item before it.
        self.positions: dict[int, int] = {}
        # The items left out, by the path of their list: their codes count as declared, and the
        # references they make are still checked.
        self.dropped: dict[str, list[tuple[str, dict[Any, Any]]]] = {}

    @property
    def errors(self) -> list[ManifestError]:
        return [ManifestError(m.path, m.message) for m in self.mistakes]

    def unknown_field(self, name: str, known: list[str]) -> str:
        return f"unknown field{did_you_mean(name, known)}"

    def missing_field(self, name: str) -> str:
        return "required field missing"

    def list(self, raw: list[Any], item_type: Any, path: str) -> Any:
        """The valid items of a collection of objects (users, sites, …); any other list is valid whole
        or not at all (a window without its broken day is not the window the file meant)."""
        if item_type not in _COLLECTIONS:
            return super().list(raw, item_type, path)
        items = []
        for i, item in enumerate(raw):
            value = self.item(item, item_type, path, i)
            if value is not INVALID:
                self.positions[id(value)] = i
                items.append(value)
            elif isinstance(item, dict):
                self.dropped.setdefault(path, []).append((f"{path}[{i}]", item))
        return items

    def dropped_codes(self, path: str) -> set[str]:
        return {item["code"] for _, item in self.dropped.get(path, []) if isinstance(item.get("code"), str)}


def _join(path: str, name: str) -> str:
    name = name.removeprefix(".")
    return rules.join(path, name) if name else path


def _related(path: str, other: str) -> bool:
    return path == other or any(a.startswith((b + ".", b + "[")) for a, b in ((path, other), (other, path)))


def declared_slug(text: str) -> str | None:
    """The tenant a manifest is for, read as leniently as possible (to know whether it is new)."""
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader with fewer implicit types
    except yaml.YAMLError:
        return None
    tenant = raw.get("tenant") if isinstance(raw, dict) else None
    slug = tenant.get("slug") if isinstance(tenant, dict) else None
    return slug if isinstance(slug, str) else None


def load_manifest(text: str, *, new_tenant: bool = False) -> tuple[Manifest | None, list[ManifestError]]:
    """Parse and validate a whole manifest: every mistake in the file, each with its path; the manifest
    only when there are none. References must resolve inside the file (the module's rules); a manifest
    that creates its tenant (``new_tenant``) names an admin among its users."""
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader with fewer implicit types
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return None, [ManifestError(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]
    if not isinstance(raw, dict):
        return None, [
            ManifestError(
                "", "expected a mapping with tenant, users, sites, calendars, clients, staff and reports"
            )
        ]
    reader = _Reader()
    # A broken tenant block must not stop the rest of the file from being checked.
    stand_in = ManifestTenant(slug="invalid", name="invalid")
    manifest = reader.struct(raw, Manifest, "", stand_ins={"tenant": stand_in})
    if manifest is INVALID:
        return None, reader.errors
    # A mistake already reported is not reported again by the checks that stumble over it.
    reported = reader.errors
    found = [
        e
        for e in _Checks(manifest, reader, new_tenant).run()
        if not any(_related(e.path, r.path) for r in reported)
    ]
    errors = reported + found
    return (None, errors) if errors else (manifest, [])


NO_ADMIN = "a new tenant needs an admin among its users (the first becomes its owner)"


# --- checks beyond the types -----------------------------------------------------------------


class _Checks:
    """The rules of the REST API applied to the whole file, plus codes unique within the file and
    references resolved within it (a manifest is complete for what it names)."""

    def __init__(self, manifest: Manifest, reader: _Reader, new_tenant: bool = False) -> None:
        self.manifest = manifest
        self.positions = reader.positions
        self.reader = reader
        self.new_tenant = new_tenant
        self.errors: list[ManifestError] = []

    def at(self, items: list[Any], name: str) -> Iterator[tuple[str, Any]]:
        for i, item in enumerate(items):
            yield f"{name}[{self.positions.get(id(item), i)}]", item

    def add(self, found: FieldErrors, renamed: dict[str, str] | None = None) -> None:
        for error in found:
            path: str = error["field"]
            for old, new in (renamed or {}).items():
                if path.endswith(old):
                    path = path.removesuffix(old) + new
            self.errors.append(ManifestError(path, error["message"]))

    def error(self, path: str, message: str) -> None:
        self.errors.append(ManifestError(path, message))

    def unique(self, path: str, key: str, seen: set[str], what: str) -> None:
        if key in seen:
            self.error(path, f"{what} {key!r} appears twice")
        seen.add(key)

    def run(self) -> list[ManifestError]:
        m = self.manifest
        self.add(rules.check_time_zone(m.tenant.time_zone, "tenant.time_zone"))
        # Codes of items already reported as broken still count as declared: one mistake, one error.
        dropped = self.reader.dropped
        clients = {c.code for c in m.clients} | self.reader.dropped_codes("clients")
        calendars = {c.code for c in m.calendars} | self.reader.dropped_codes("calendars")
        sites = {s.code for s in m.sites} | self.reader.dropped_codes("sites")
        if self.new_tenant and not any(u.role is Role.ADMIN for u in m.users):
            roles = [item.get("role") for _, item in dropped.get("users", [])]
            if Role.ADMIN.value not in roles:
                self.error("users", NO_ADMIN)
        seen: set[str] = set()
        for path, calendar in self.at(m.calendars, "calendars"):
            self.unique(rules.join(path, "code"), calendar.code, seen, "calendar")
            self.add(rules.check_calendar(calendar, path))
        seen = set()
        for path, site in self.at(m.sites, "sites"):
            self.unique(rules.join(path, "code"), site.code, seen, "site")
            shape = schemas.SiteCreate(
                code=site.code, name=site.name, kind=site.kind, time_zone=site.time_zone,
                client_id=uuid.UUID(int=0) if site.client else None,
            )  # fmt: skip
            self.add(service.check_site(shape, path), {"client_id": "client"})
            if site.client is not None and site.client not in clients:
                self.error(rules.join(path, "client"), f"no client {site.client!r} in this file")
        for path, item in dropped.get("sites", []):
            self.references(path, item, {"client": (clients, "client")})
        seen, contract_codes = set(), set[str]()
        # The contracts of each valid client, those left out for a mistake included.
        contracts_of: dict[str, set[str]] = {}
        for path, client in self.at(m.clients, "clients"):
            self.unique(rules.join(path, "code"), client.code, seen, "client")
            contracts_of[client.code] = {c.code for c in client.contracts}
            contracts_of[client.code] |= self.reader.dropped_codes(rules.join(path, "contracts"))
            self.add(service.check_client(client, path))
            service_codes: set[str] = set()
            for service_path, offered in self.at(client.services, rules.join(path, "services")):
                self.unique(rules.join(service_path, "code"), offered.code, service_codes, "service")
            service_codes |= self.reader.dropped_codes(rules.join(path, "services"))
            for contract_path, contract in self.at(client.contracts, rules.join(path, "contracts")):
                self.unique(rules.join(contract_path, "code"), contract.code, contract_codes, "contract")
                self.contract(contract_path, contract, client, service_codes, calendars, sites)
            for contract_path, item in dropped.get(rules.join(path, "contracts"), []):
                known = {"calendar": (calendars, "calendar"), "site": (sites, "site")}
                self.references(contract_path, item, known)
                offered = item.get("service")
                if isinstance(offered, str) and offered not in service_codes:
                    self.error(
                        rules.join(contract_path, "service"),
                        f"no service {offered!r} under client {client.code}",
                    )
        seen = set()
        for path, user in self.at(m.users, "users"):
            self.unique(rules.join(path, "email"), normalize_email(user.email), seen, "email")
            self.user(path, user, clients)
        for path, item in dropped.get("users", []):
            self.references(path, item, {"client": (clients, "client")})
        logins = {normalize_email(u.email): u.role for u in m.users}
        contract_codes |= {
            code for key in dropped if key.endswith("contracts") for code in self.reader.dropped_codes(key)
        }
        seen, linked = set(), set[str]()
        for path, person in self.at(m.staff, "staff"):
            self.unique(rules.join(path, "code"), person.code, seen, "staff code")
            self.staff(path, person, logins, linked, sites, contract_codes)
        for path, item in dropped.get("staff", []):
            known = {
                "sites": (sites, "site"),
                "trained_contracts": (contract_codes, "contract"),
                "excluded_contracts": (contract_codes, "contract"),
            }
            self.references(path, item, known)
            login = item.get("user")
            if isinstance(login, str) and normalize_email(login) not in logins:
                self.error(rules.join(path, "user"), f"no user {login!r} in this file")
        reported: set[tuple[str, str]] = set()
        for path, report in self.at(m.reports, "reports"):
            self.report(path, report, clients, contracts_of, reported)
        for path, item in dropped.get("reports", []):
            self.references(path, item, {"client": (clients, "client")})
        return self.errors

    def report(
        self,
        path: str,
        report: ManifestReport,
        clients: set[str],
        contracts_of: dict[str, set[str]],
        seen: set[tuple[str, str]],
    ) -> None:
        where = functools.partial(rules.join, path)
        if report.client not in clients:
            self.error(where("client"), f"no client {report.client!r} in this file")
        if (report.client, report.cadence) in seen:
            self.error(where("cadence"), f"client {report.client} has a {report.cadence} report already")
        seen.add((report.client, report.cadence))
        # Unknown for a client left out for a mistake: that mistake is reported.
        known = contracts_of.get(report.client)
        for i, code in enumerate(report.contracts):
            if known is not None and code not in known:
                self.error(where(f"contracts[{i}]"), f"no contract {code!r} under client {report.client}")
        if len(set(report.contracts)) != len(report.contracts):
            self.error(where("contracts"), "lists a code twice")
        if len({a.lower() for a in report.extra_recipients}) != len(report.extra_recipients):
            self.error(where("extra_recipients"), "lists an address twice")
        for found in reports.check_when(report.cadence, report.weekday, report.day_of_month):
            self.error(where(found["field"]), found["message"])
        if report.time_zone is not None:
            self.add(rules.check_time_zone(report.time_zone, where("time_zone")))

    def references(self, path: str, item: dict[Any, Any], known: dict[str, tuple[set[str], str]]) -> None:
        """The codes an item left out for a mistake names: each must still be declared in the file, so that
        this is found in the same pass as the mistake."""
        for name, (codes, what) in known.items():
            value = item.get(name)
            listed = [(rules.join(path, name), value)] if isinstance(value, str) else []
            if isinstance(value, list):
                listed = [
                    (rules.join(path, f"{name}[{i}]"), v) for i, v in enumerate(value) if isinstance(v, str)
                ]
            for where, code in listed:
                if code not in codes:
                    self.error(where, f"no {what} {code!r} in this file")

    def staff(
        self,
        path: str,
        person: ManifestStaff,
        logins: dict[str, Role],
        linked: set[str],
        sites: set[str],
        contract_codes: set[str],
    ) -> None:
        where = functools.partial(rules.join, path)
        shape = staffing_schemas.StaffCreate(
            display_name=person.display_name, home_zone=person.home_zone, country=person.country,
            skills=person.skills, languages=person.languages, hourly_cost=person.hourly_cost,
            availability=person.availability,
        )  # fmt: skip
        self.add(staffing.check_staff(shape, path))
        if person.user is not None:
            email = normalize_email(person.user)
            role = logins.get(email)
            if role is None:
                self.error(where("user"), f"no user {person.user!r} in this file")
            elif role is Role.CLIENT_VIEWER:
                self.error(where("user"), "a client viewer cannot be staff")
            self.unique(where("user"), email, linked, "login")
        for name, codes, known, what in (
            ("sites", person.sites, sites, "site"),
            ("trained_contracts", person.trained_contracts or [], contract_codes, "contract"),
            ("excluded_contracts", person.excluded_contracts, contract_codes, "contract"),
        ):
            for i, code in enumerate(codes):
                if code not in known:
                    self.error(where(f"{name}[{i}]"), f"no {what} {code!r} in this file")
            if len(set(codes)) != len(codes):
                self.error(where(name), "lists a code twice")

    def contract(
        self,
        path: str,
        contract: ManifestContract,
        client: ManifestClient,
        service_codes: set[str],
        calendars: set[str],
        sites: set[str],
    ) -> None:
        where = functools.partial(rules.join, path)
        for severity in escalation_schemas.SEVERITIES:
            addresses = getattr(contract.escalation_rules, severity).extra_recipients
            if len({a.lower() for a in addresses}) != len(addresses):
                self.error(where(f"escalation_rules.{severity}.extra_recipients"), "lists an address twice")
        if contract.service not in service_codes:
            self.error(where("service"), f"no service {contract.service!r} under client {client.code}")
        if contract.calendar not in calendars:
            self.error(where("calendar"), f"no calendar {contract.calendar!r} in this file")
        if contract.site is not None and contract.site not in sites:
            self.error(where("site"), f"no site {contract.site!r} in this file")
        if contract.currency is not None:
            self.add(rules.check_currency(contract.currency, where("currency")))
        shape = contracts.check_contract_shape(
            staffing_mode=contract.staffing_mode,
            site_id=uuid.UUID(int=0) if contract.site else None,
            start_date=contract.start_date,
            end_date=contract.end_date,
            coverage=contract.coverage,
            path=path,
        )
        self.add(shape, {"site_id": "site"})
        if contract.objectives is not None and contract.sla_policies:
            self.error(where("objectives"), "give objectives or sla_policies, not both")
        if contract.rate_plan is not None and contract.rate_plans:
            self.error(where("rate_plan"), "give rate_plan or rate_plans, not both")
        if contract.voice_categories is not None:
            if not contract.voice_categories:
                self.error(where("voice_categories"), "name at least one category, or leave it out")
            self.add(voices.check_category_list(contract.voice_categories, where("voice_categories")))
        dates: set[str] = set()
        for version_path, policy in sla_versions(contract, path):
            # The shorthand's path is its objectives list already.
            listed = (
                version_path if contract.objectives is not None else rules.join(version_path, "objectives")
            )
            self.add(rules.check_objectives(policy.objectives, listed))
            self.version_date(version_path, policy.effective_from, contract, dates)
        currency = contract.currency or client.currency
        observed = next(
            (c.holiday_country for c in self.manifest.calendars if c.code == contract.calendar), "JP"
        )
        dates = set()
        for version_path, plan in rate_versions(contract, path):
            full = rate_plan_create(plan, contract, currency)
            found = rules.check_rate_plan(full, currency, version_path)
            for i, surcharge in enumerate(plan.surcharges):
                holiday = surcharge.window is schemas.SurchargeWindow.HOLIDAY
                if holiday and surcharge.holiday_country is None and observed is None:
                    self.error(
                        rules.join(version_path, f"surcharges[{i}].holiday_country"),
                        f"calendar {contract.calendar} observes no public holidays: name the country whose "
                        "holidays count",
                    )
            if plan.currency is None:
                # The contract's own currency: any mistake in it is reported there.
                found = [e for e in found if e["field"] != rules.join(version_path, "currency")]
            self.add(found)
            self.version_date(version_path, plan.effective_from, contract, dates)

    def version_date(
        self, path: str, effective_from: date | None, contract: ManifestContract, seen: set[str]
    ) -> None:
        when = effective_from or contract.start_date
        if when < contract.start_date:
            self.error(
                rules.join(path, "effective_from"), f"must not be before start_date {contract.start_date}"
            )
        self.unique(rules.join(path, "effective_from"), when.isoformat(), seen, "version from")

    def user(self, path: str, user: ManifestUser, clients: set[str]) -> None:
        where = functools.partial(rules.join, path)
        if user.role is Role.API_CLIENT:
            self.error(where("role"), "api_client is for API keys, not users")
        if user.role is Role.CLIENT_VIEWER and user.client is None:
            self.error(where("client"), "a client_viewer names the client it may see")
        elif user.role is not Role.CLIENT_VIEWER and user.client is not None:
            self.error(where("client"), "only a client_viewer is bound to a client")
        elif user.client is not None and user.client not in clients:
            self.error(where("client"), f"no client {user.client!r} in this file")


def sla_versions(contract: ManifestContract, path: str = "") -> list[tuple[str, ManifestSlaPolicy]]:
    """The SLA versions a contract declares, with their paths; the shorthand is the version from the start."""
    if contract.objectives is not None:
        shorthand = ManifestSlaPolicy(objectives=contract.objectives, effective_from=contract.start_date)
        return [(rules.join(path, "objectives"), shorthand)]
    return [(rules.join(path, f"sla_policies[{i}]"), p) for i, p in enumerate(contract.sla_policies)]


def rate_versions(contract: ManifestContract, path: str = "") -> list[tuple[str, ManifestRatePlan]]:
    if contract.rate_plan is not None:
        return [(rules.join(path, "rate_plan"), contract.rate_plan)]
    return [(rules.join(path, f"rate_plans[{i}]"), p) for i, p in enumerate(contract.rate_plans)]


def rate_plan_create(
    plan: ManifestRatePlan, contract: ManifestContract, currency: str
) -> schemas.RatePlanCreate:
    """A declared rate plan version as the API takes it: dated from the contract's start and in the
    contract's currency unless it says otherwise."""
    return schemas.RatePlanCreate(
        effective_from=plan.effective_from or contract.start_date,
        currency=plan.currency or currency,
        charges=plan.charges,
        minimum_commitment=plan.minimum_commitment,
        service_credits=plan.service_credits,
        meters=plan.meters,
        surcharges=plan.surcharges,
    )


# --- writing a manifest ----------------------------------------------------------------------


# How the items of a list of objects are told apart, to follow a source file's order; reports by both
# their client and cadence.
_IDENTITY = ("code", "email", "effective_from")
_REPORT_IDENTITY = ("client", "cadence")


def _plain(value: Any, like: Any = None) -> Any:
    """Builtins for YAML, leaving out every field that equals its default (dates stay dates, whole numbers
    stay integers). ``like`` is the same piece of a source file, parsed: its keys keep their order, its
    items theirs, and what it states explicitly is written even when it is the default."""
    if isinstance(value, ManifestContract) and isinstance(like, dict):
        value = _shorthand(value, like)
    if isinstance(value, msgspec.Struct):
        stated = like if isinstance(like, dict) else {}
        config = value.__struct_config__
        out: dict[str, Any] = {config.tag_field: config.tag} if config.tag_field else {}
        for field in msgspec.structs.fields(value):
            item = getattr(value, field.name)
            default = field.default
            if field.default_factory is not msgspec.NODEFAULT:
                default = field.default_factory()
            if default is not msgspec.NODEFAULT and item == default and field.encode_name not in stated:
                continue
            out[field.encode_name] = _plain(item, stated.get(field.encode_name))
        if isinstance(value, schemas.CalendarCreate) and value.holiday_country is None:
            out["holiday_country"] = schemas.NO_HOLIDAYS
        return {**{key: out[key] for key in stated if key in out}, **out}
    if isinstance(value, list):
        return _plain_list(value, like if isinstance(like, list) else [])
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _identity(item: Any) -> Any:
    if isinstance(item, msgspec.Struct):
        item = {f: getattr(item, f, None) for f in (*_IDENTITY, *_REPORT_IDENTITY)}
    if isinstance(item, dict):
        for name in _IDENTITY:
            key = item.get(name)
            if key is not None:
                return name, str(key).lower()
        client, cadence = (item.get(name) for name in _REPORT_IDENTITY)
        if isinstance(client, str) and isinstance(cadence, str):
            return "report", f"{client}/{cadence}".lower()
    return None


def _plain_list(values: list[Any], like: list[Any]) -> list[Any]:
    """Items in the source's order where it lists them (matched by code, email or date), then the rest."""
    if not like or not all(isinstance(v, msgspec.Struct) for v in values):
        return [_plain(v, like[i] if i < len(like) else None) for i, v in enumerate(values)]
    where = {_identity(item): i for i, item in enumerate(like) if _identity(item) is not None}
    if not where:
        return [_plain(v, like[i] if i < len(like) else None) for i, v in enumerate(values)]
    ordered = sorted(values, key=lambda v: where.get(_identity(v), len(like)))
    return [_plain(v, like[where[_identity(v)]] if _identity(v) in where else None) for v in ordered]


def _shorthand(contract: ManifestContract, like: dict[Any, Any]) -> ManifestContract:
    """A contract written with the shorthands its source uses: one SLA version from the start date as
    ``objectives``, one rate plan version as ``rate_plan``."""
    if "objectives" in like and contract.objectives is None:
        if not contract.sla_policies:
            contract = replace(contract, objectives=defaults.OBJECTIVES[contract.work_type])
        elif len(contract.sla_policies) == 1 and contract.sla_policies[0].effective_from in (
            None,
            contract.start_date,
        ):
            contract = replace(contract, objectives=contract.sla_policies[0].objectives, sla_policies=[])
    if "rate_plan" in like and contract.rate_plan is None and len(contract.rate_plans) == 1:
        plan = contract.rate_plans[0]
        stated = isinstance(like["rate_plan"], dict) and "effective_from" in like["rate_plan"]
        if plan.effective_from == contract.start_date and not stated:
            plan = replace(plan, effective_from=None)
        contract = replace(contract, rate_plan=plan, rate_plans=[])
    return contract


def _reports_as_stated(manifest: Manifest, like: list[Any]) -> list[ManifestReport]:
    """Reports with the zone and language their source states even where those are the defaults, which an
    export leaves out."""
    stated = {_identity(item): item for item in like if isinstance(item, dict)}
    tenant = manifest.tenant
    zones = {client.code: client.time_zone or tenant.time_zone for client in manifest.clients}
    language = tenant.default_language or language_for_zone(tenant.time_zone)
    reports = []
    for report in manifest.reports:
        item = stated.get(_identity(report), {})
        if report.time_zone is None and "time_zone" in item:
            report = replace(report, time_zone=zones.get(report.client, tenant.time_zone))
        if report.language is None and "language" in item:
            report = replace(report, language=language)
        reports.append(report)
    return reports


class _Dumper(yaml.SafeDumper):
    """Block style for structure, one-line flow style for small flat items (a user, a window, a tier),
    the way people write these files by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Items indented under their key, as in hand-written files.
        super().increase_indent(flow, False)

    def represent_dict(self, data: Any) -> yaml.MappingNode:
        flat = all(_scalar(v) or (isinstance(v, list) and all(map(_scalar, v))) for v in data.values())
        return self.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flat and len(str(data)) < 90)

    def represent_list(self, data: Any) -> yaml.SequenceNode:
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=all(map(_scalar, data)))

    def represent_clock(self, data: str) -> yaml.ScalarNode:
        # Every clock quoted alike, though only some ("10:00") would otherwise read as numbers.
        style = "'" if re.fullmatch(r"\d{1,2}:\d{2}", data) else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(dict, _Dumper.represent_dict)
_Dumper.add_representer(list, _Dumper.represent_list)
_Dumper.add_representer(str, _Dumper.represent_clock)


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def dump_manifest(manifest: Manifest, like: str | None = None) -> str:
    """The manifest as YAML; ``like``, the file it came from, gives its order of objects and keys and its
    shorthands, so that a diff against it shows only what differs."""
    source = yaml.load(like, Loader=_Loader) if like else None  # noqa: S506 - a SafeLoader, fewer types
    tenant = source.get("tenant") if isinstance(source, dict) else None
    if isinstance(tenant, dict) and tenant.get("demo") is True:
        # Not stored with the tenant: it only says how the file's new users get their passwords.
        manifest = replace(manifest, tenant=replace(manifest.tenant, demo=True))
    if isinstance(source, dict) and isinstance(source.get("reports"), list):
        manifest = replace(manifest, reports=_reports_as_stated(manifest, source["reports"]))
    body = yaml.dump(_plain(manifest, source), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)
    return f"# yaml-language-server: $schema=manifest.schema.json\n{body}"
