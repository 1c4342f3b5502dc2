"""Declarative onboarding: ``tenants/<slug>.yaml`` describes an operator's clients, services, calendars,
contracts (with objectives and rate plans), sites, users and staff. ``bpo tenants apply`` validates the
whole file, prints a plan, and upserts by human codes through the same services as the REST API
(``onboarding.py``); ``bpo tenants export`` writes a tenant back in this format (``inventory.py``).

The format's rules:
- Objects are matched by code (users by email, versions by ``effective_from``, staff by their employee
  code); a file describes what it lists completely, so an optional field left out means its default, not
  "leave as is". Objects and versions it does not list are left alone: apply never deletes.
- A file is complete for what it names: a contract's calendar, site and service, a site's or a user's
  client, a staff member's login, sites and contracts must be declared in the same file. It validates
  without a database, and a plan never depends on objects the reader cannot see.
- Defaults that depend on other objects: a client works in the tenant's zone, a contract bills in its
  client's currency by its work type's billable event, a version runs from the contract's start, a rate
  plan is in its contract's currency; a contract without objectives is measured by its work type's.
"""

from __future__ import annotations

import difflib
import functools
import re
import types
import uuid
from collections.abc import Iterator
from datetime import date
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
import yaml

from bpo.clients import contracts, rules, schemas, service
from bpo.core.errors import FieldErrors
from bpo.core.scope import Role
from bpo.core.types import Code, Currency, MinorUnits, Name, Strict, Text, TimeZone
from bpo.staffing import schemas as staffing_schemas
from bpo.staffing import service as staffing

Slug = Annotated[
    str, msgspec.Meta(min_length=2, max_length=63, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?!\n)$")
]
Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+(?!\n)$")
]


class ManifestTenant(Strict):
    slug: Slug
    name: Name
    time_zone: TimeZone = "Asia/Tokyo"
    invoice_registration_number: Annotated[str, msgspec.Meta(pattern=r"^T\d{13}(?!\n)$")] | None = None
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


class ManifestSlaPolicy(Strict, kw_only=True):
    # Defaults to the contract's start date.
    effective_from: date | None = None
    objectives: list[schemas.Objective]


class ManifestRatePlan(Strict, kw_only=True):
    effective_from: date | None = None
    # Defaults to the contract's currency.
    currency: Currency | None = None
    charges: list[schemas.Charge]
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


class ManifestStaff(Strict):
    """A staff profile, matched by ``code``; its login, sites and contracts by their emails and codes."""

    code: Code
    display_name: Name
    home_zone: TimeZone
    country: staffing_schemas.Country
    given_name: staffing_schemas.GivenName | None = None
    # The email of the login (declared under users) linked to this profile.
    user: Email | None = None
    email: Email | None = None
    employment_type: staffing_schemas.EmploymentType = staffing_schemas.EmploymentType.FULL_TIME
    skills: list[staffing_schemas.Proficiency] = []
    languages: list[staffing_schemas.Proficiency] = []
    sites: list[Code] = []
    # Null: may work on every contract.
    trained_contracts: list[Code] | None = None
    excluded_contracts: list[Code] = []
    weekly_hour_cap: staffing_schemas.Hours = 40
    contracted_hours: staffing_schemas.Hours | None = None
    hourly_cost: staffing_schemas.Money | None = None
    # Weekly windows in the home zone; null: available at any time.
    availability: list[schemas.WindowSpec] | None = None
    active: bool = True


class Manifest(Strict):
    tenant: ManifestTenant
    users: list[ManifestUser] = []
    sites: list[ManifestSite] = []
    calendars: list[schemas.CalendarCreate] = []
    clients: list[ManifestClient] = []
    staff: list[ManifestStaff] = []


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


_INVALID: Any = object()
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def _members(tp: Any) -> list[Any]:
    """The alternatives of a field type, without ``Annotated`` constraints and ``None``."""
    if get_origin(tp) is Annotated:
        return _members(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        return [m for arg in get_args(tp) for m in _members(arg)]
    return [] if tp is type(None) else [tp]


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
    }
)


def _choices(tp: Any) -> list[str]:
    options = _members(tp)
    if len(options) == 1 and isinstance(options[0], type) and issubclass(options[0], Enum):
        return [str(member.value) for member in options[0]]
    if len(options) == 1 and get_origin(options[0]) is Literal:
        return [str(arg) for arg in get_args(options[0])]
    return []


class _Reader:
    """Converts a parsed manifest piece by piece, so one mistake does not hide the next: each part that
    fails is reported at its path and left out (or defaulted), and everything else is still checked."""

    def __init__(self) -> None:
        self.errors: list[ManifestError] = []
        # Where an item stood in its list, for lists that lost an invalid item before it.
        self.positions: dict[int, int] = {}
        # The codes of items left out, by the path of their list.
        self.dropped: dict[str, set[str]] = {}

    def convert(self, raw: Any, tp: Any, path: str) -> Any:
        try:
            return msgspec.convert(raw, tp)
        except msgspec.ValidationError as exc:
            failure = exc
        before = len(self.errors)
        options = _members(tp)
        structs = [t for t in options if isinstance(t, type) and issubclass(t, msgspec.Struct)]
        lists = [get_args(t)[0] for t in options if get_origin(t) is list]
        value = _INVALID
        if isinstance(raw, dict) and structs:
            tag_field = structs[0].__struct_config__.tag_field
            if len(structs) == 1:
                value = self.struct(raw, structs[0], path)
            elif tag_field is not None:
                tagged = {t.__struct_config__.tag: t for t in structs}
                if raw.get(tag_field) in tagged:
                    value = self.struct(raw, tagged[raw[tag_field]], path)
                else:
                    kinds = ", ".join(str(tag) for tag in tagged)
                    self.errors.append(ManifestError(_join(path, tag_field), f"expected one of: {kinds}"))
        elif isinstance(raw, list) and len(lists) == 1:
            value = self.list(raw, lists[0], path)
        if len(self.errors) == before:
            match = _AT.match(str(failure))
            assert match is not None
            message = match["message"]
            if not match["path"] and _choices(tp):
                message += f"; expected one of: {', '.join(_choices(tp))}"
            self.errors.append(ManifestError(_join(path, match["path"] or ""), message))
            return _INVALID
        return value

    def struct(
        self,
        raw: dict[Any, Any],
        cls: type[msgspec.Struct],
        path: str,
        stand_ins: dict[str, Any] | None = None,
    ) -> Any:
        fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
        values: dict[str, Any] = {}
        broken = False
        for key, item in raw.items():
            name = str(key)
            if name == cls.__struct_config__.tag_field:
                continue
            field = fields.get(name)
            if field is None:
                hint = difflib.get_close_matches(name, list(fields), n=1)
                suffix = f"; did you mean {hint[0]!r}?" if hint else ""
                self.errors.append(ManifestError(_join(path, name), f"unknown field{suffix}"))
                continue
            value = self.convert(item, field.type, _join(path, name))
            if value is not _INVALID:
                values[field.name] = value
            elif stand_ins and field.name in stand_ins:
                values[field.name] = stand_ins[field.name]
            else:
                broken = broken or field.required
        for name, field in fields.items():
            if field.required and name not in raw:
                self.errors.append(ManifestError(_join(path, name), "required field missing"))
                broken = True
        return _INVALID if broken else cls(**values)

    def list(self, raw: list[Any], item_type: Any, path: str) -> Any:
        """The valid items of a collection of objects (users, sites, …); any other list is valid whole
        or not at all (a window without its broken day is not the window the file meant)."""
        collection = item_type in _COLLECTIONS
        items = []
        complete = True
        for i, item in enumerate(raw):
            value = self.convert(item, item_type, f"{path}[{i}]")
            if value is not _INVALID:
                self.positions[id(value)] = i
                items.append(value)
                continue
            complete = False
            if collection and isinstance(item, dict) and isinstance(item.get("code"), str):
                self.dropped.setdefault(path, set()).add(item["code"])
        return items if complete or collection else _INVALID


def _join(path: str, name: str) -> str:
    name = name.removeprefix(".")
    return rules.join(path, name) if name else path


def _related(path: str, other: str) -> bool:
    return path == other or any(a.startswith((b + ".", b + "[")) for a, b in ((path, other), (other, path)))


def load_manifest(text: str) -> tuple[Manifest | None, list[ManifestError]]:
    """Parse and validate a whole manifest: every mistake in the file, each with its path; the manifest
    only when there are none. References must resolve inside the file (the module's rules)."""
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader with fewer implicit types
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return None, [ManifestError(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]
    if not isinstance(raw, dict):
        return None, [
            ManifestError("", "expected a mapping with tenant, users, sites, calendars, clients and staff")
        ]
    reader = _Reader()
    # A broken tenant block must not stop the rest of the file from being checked.
    stand_in = ManifestTenant(slug="invalid", name="invalid")
    manifest = reader.struct(raw, Manifest, "", stand_ins={"tenant": stand_in})
    if manifest is _INVALID:
        return None, reader.errors
    # A mistake already reported is not reported again by the checks that stumble over it.
    found = [
        e for e in _Checks(manifest, reader).run() if not any(_related(e.path, r.path) for r in reader.errors)
    ]
    errors = reader.errors + found
    return (None, errors) if errors else (manifest, [])


# --- checks beyond the types -----------------------------------------------------------------


class _Checks:
    """The rules of the REST API applied to the whole file, plus codes unique within the file and
    references resolved within it (a manifest is complete for what it names)."""

    def __init__(self, manifest: Manifest, reader: _Reader) -> None:
        self.manifest = manifest
        self.positions = reader.positions
        self.dropped = reader.dropped
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
        clients = {c.code for c in m.clients} | self.dropped.get("clients", set())
        calendars = {c.code for c in m.calendars} | self.dropped.get("calendars", set())
        sites = {s.code for s in m.sites} | self.dropped.get("sites", set())
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
        seen, contract_codes = set(), set[str]()
        for path, client in self.at(m.clients, "clients"):
            self.unique(rules.join(path, "code"), client.code, seen, "client")
            self.add(service.check_client(client, path))
            service_codes: set[str] = set()
            for service_path, offered in self.at(client.services, rules.join(path, "services")):
                self.unique(rules.join(service_path, "code"), offered.code, service_codes, "service")
            service_codes |= self.dropped.get(rules.join(path, "services"), set())
            for contract_path, contract in self.at(client.contracts, rules.join(path, "contracts")):
                self.unique(rules.join(contract_path, "code"), contract.code, contract_codes, "contract")
                self.contract(contract_path, contract, client, service_codes, calendars, sites)
        seen = set()
        for path, user in self.at(m.users, "users"):
            self.unique(rules.join(path, "email"), user.email.lower(), seen, "email")
            self.user(path, user, clients)
        logins = {u.email.lower(): u.role for u in m.users}
        contract_codes |= {
            code for key, codes in self.dropped.items() if key.endswith("contracts") for code in codes
        }
        seen, linked = set(), set[str]()
        for path, person in self.at(m.staff, "staff"):
            self.unique(rules.join(path, "code"), person.code, seen, "staff code")
            self.staff(path, person, logins, linked, sites, contract_codes)
        return self.errors

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
            email = person.user.lower()
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
        dates: set[str] = set()
        for version_path, policy in sla_versions(contract, path):
            # The shorthand's path is its objectives list already.
            listed = (
                version_path if contract.objectives is not None else rules.join(version_path, "objectives")
            )
            self.add(rules.check_objectives(policy.objectives, listed))
            self.version_date(version_path, policy.effective_from, contract, dates)
        currency = contract.currency or client.currency
        dates = set()
        for version_path, plan in rate_versions(contract, path):
            full = rate_plan_create(plan, contract, currency)
            found = rules.check_rate_plan(full, currency, version_path)
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
    )


# --- writing a manifest ----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Builtins for YAML, leaving out every field that equals its default (dates stay dates)."""
    if isinstance(value, msgspec.Struct):
        config = value.__struct_config__
        out: dict[str, Any] = {config.tag_field: config.tag} if config.tag_field else {}
        for field in msgspec.structs.fields(value):
            item = getattr(value, field.name)
            if field.default is not msgspec.NODEFAULT and item == field.default:
                continue
            if field.default_factory is not msgspec.NODEFAULT and item == field.default_factory():
                continue
            out[field.encode_name] = _plain(item)
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


class _Dumper(yaml.SafeDumper):
    """Block style for structure, one-line flow style for small flat items (a user, a window, a tier),
    the way people write these files by hand."""

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


def dump_manifest(manifest: Manifest) -> str:
    body = yaml.dump(_plain(manifest), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)
    return f"# yaml-language-server: $schema=manifest.schema.json\n{body}"
