"""Isolation probes over every route the app serves.

Routes are enumerated from the app itself, and every one must be declared in ``ROUTES`` below: either
``Public(why)`` (reachable without credentials by design) or a ``Probe`` saying how to call it with
tenant A's objects. Each probe runs as every attacker — tenant B's admin, a client viewer and an API
key of client Y (tenant A's other client), and a staff member for another staff member's data — once
with A's ids and once with fresh random ids. It fails on:

- any 5xx;
- a difference between "not yours" and "missing" (status, and problem type for problem answers);
- a 2xx whose body names one of A's objects other than the attacker's own (``World.owned_by``), for every
  attacker;
- a 2xx to a write, unless the probe lists the attacker in ``allowed`` (acting on its own data, e.g. B's
  admin creating B's client);
- any change to what A's admin reads (``World.snapshot``) after a write probe;
- a probe that does not reach A's object: A's own admin must get a 2xx for a read, and a write with
  A's ids in its path must get past validation (no 400/422) for B's admin.

A new route fails ``test_every_route_is_declared`` with the entry to add. Placeholders in paths, query
and bodies are world names in braces (``{contract}``; ``{unique}`` is fresh on every call); a path
parameter ``<name>_id`` defaults to ``{<name>}``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
from litestar.routes import HTTPRoute

from bpo.app import create_app
from bpo.core.runtime import Runtime
from bpo.settings import load_settings
from bpo.web.session import SESSION_COOKIE
from tests.security.world import Caller, World, build_world
from tests.support.factories import PASSWORD

ATTACKERS = ("other_tenant_admin", "other_client_viewer", "other_client_key", "other_staff")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Fields that change on reads or logins, not by anyone's write.
VOLATILE = frozenset({"last_used_at", "last_login_at", "updated_at"})


@dataclass(frozen=True)
class Public:
    """Reachable without credentials by design; nothing of a tenant's is behind it without a secret."""

    why: str


@dataclass(frozen=True)
class Probe:
    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    # Attackers who may get a 2xx here: the route acts on the caller's own data.
    allowed: frozenset[str] = frozenset()
    # The dashboard reads its session cookie, never the Authorization header.
    auth: Literal["bearer", "cookie"] = "bearer"
    # Who in tenant A reads this successfully (proves the probe addresses A's objects); None: a write.
    owner: str | None = "admin"
    # A's objects the route shows every staff member of the tenant by design (the colleagues one may offer
    # a shift to): not a leak to the other staff member.
    colleagues: frozenset[str] = frozenset()
    # The tenant's staff work on what the route serves by design (they quote and curate the users' voices
    # of every contract): the other staff member is no attacker here.
    staff_work_here: bool = False


def W(**kwargs: Any) -> Probe:
    """A write: no owner read to check."""
    return Probe(owner=None, **kwargs)


EVERYONE = frozenset(ATTACKERS)
TENANT_ADMIN = frozenset({"other_tenant_admin"})
PERIOD = {"start": "2026-10-01", "end": "2026-10-31"}
CONTRACT_BODY = {
    "service_id": "{service}",
    "code": "K{unique}",
    "name": "Probe",
    "work_type": "patrol",
    "start_date": "2026-12-01",
    "calendar_id": "{calendar}",
}
ITEM = {"external_id": "probe-{unique}", "received_at": "2026-11-01T00:00:00Z"}
NPS_ANSWER = {"external_id": "probe-{unique}", "score": 9, "responded_at": "2026-10-20T00:00:00Z"}
SHIFT_TIMES = {"start": "2026-12-20T00:00:00Z", "end": "2026-12-20T08:00:00Z"}

ROUTES: dict[str, Public | Probe] = {
    # operations and documents
    "GET /health": Public("liveness"),
    "GET /ready": Public("readiness"),
    "GET /metrics": Public("Prometheus scrape; no tenant data in labels"),
    "GET /schema": Public("API docs"),
    "GET /schema/scalar": Public("API docs"),
    "GET /schema/swagger": Public("API docs"),
    "GET /schema/openapi.json": Public("the OpenAPI document"),
    "GET /schema/oauth2-redirect.html": Public("Swagger UI helper page"),
    "GET /schema/{path}": Public("not-found page of the docs"),
    "GET /schema/assets/scalar/{file_path}": Public("the docs UI's script, shipped in the package"),
    "HEAD /schema/assets/scalar/{file_path}": Public("the docs UI's script, shipped in the package"),
    "GET /schema/assets/swagger-ui/{file_path}": Public(
        "the docs UI's scripts and styles, shipped in the package"
    ),
    "HEAD /schema/assets/swagger-ui/{file_path}": Public(
        "the docs UI's scripts and styles, shipped in the package"
    ),
    # authentication
    "POST /v1/auth/token": Public("login"),
    "POST /v1/auth/refresh": Public("the refresh token is the credential"),
    "POST /v1/auth/revoke": Public("the refresh token is the credential"),
    "GET /v1/me": Probe(allowed=EVERYONE),
    # Acts on the caller's own user only; null (the tenant's language) is what every probe user has already.
    "PATCH /v1/me": W(body={"language": None}, allowed=EVERYONE),
    "GET /v1/whoami": Probe(allowed=EVERYONE),
    # The caller's own password only; the probe's current password is wrong, so nothing changes.
    "PUT /v1/me/password": W(
        body={"current_password": "not-the-password-1", "new_password": "probe-{unique}-lantern"},
        allowed=EVERYONE,
    ),
    # tenant and users
    "GET /v1/tenant": Probe(allowed=TENANT_ADMIN),
    "PATCH /v1/tenant": W(body={"name": "Probe operator"}, allowed=TENANT_ADMIN),
    "GET /v1/users": Probe(allowed=TENANT_ADMIN),
    "POST /v1/users": W(
        body={
            "email": "probe-{unique}@probe.example",
            "role": "client_viewer",
            "client_id": "{client}",
            "password": PASSWORD,
        }
    ),
    "GET /v1/users/{user_id}": Probe(),
    "PATCH /v1/users/{user_id}": W(body={"full_name": "Probe"}),
    "DELETE /v1/users/{user_id}": W(),
    "POST /v1/users/{user_id}": W(path={"user_id": "{user}:unlock"}),
    "GET /v1/api-keys": Probe(allowed=TENANT_ADMIN),
    "POST /v1/api-keys": W(body={"name": "probe", "client_id": "{client}"}),
    "DELETE /v1/api-keys/{api_key_id}": W(),
    "GET /v1/audit-events": Probe(query={"object_id": "{contract}"}, allowed=TENANT_ADMIN),
    # platform (its own token, never a tenant's credential)
    "GET /v1/platform/tenants": Probe(owner=None),
    "POST /v1/platform/tenants": W(
        body={"slug": "p-{unique}", "name": "Probe", "admin_email": "a@p-{unique}.example"}
    ),
    "GET /v1/platform/tenants/{slug}": Probe(path={"slug": "{tenant_slug}"}, owner=None),
    # sites, calendars, clients, services, contracts
    "GET /v1/sites": Probe(allowed=TENANT_ADMIN),
    "POST /v1/sites": W(
        body={
            "code": "S{unique}",
            "name": "Probe",
            "kind": "client",
            "client_id": "{client}",
            "time_zone": "Asia/Tokyo",
        }
    ),
    "GET /v1/sites/{site_id}": Probe(),
    "PATCH /v1/sites/{site_id}": W(body={"name": "Probe"}),
    "DELETE /v1/sites/{site_id}": W(),
    "GET /v1/calendars": Probe(allowed=TENANT_ADMIN),
    "POST /v1/calendars": W(
        body={
            "code": "CAL{unique}",
            "name": "Probe",
            "time_zone": "Asia/Tokyo",
            "windows": [{"days": ["daily"], "start": "09:00", "end": "18:00"}],
        },
        allowed=TENANT_ADMIN,
    ),
    "GET /v1/calendars/{calendar_id}": Probe(),
    "PATCH /v1/calendars/{calendar_id}": W(body={"name": "Probe"}),
    "DELETE /v1/calendars/{calendar_id}": W(),
    "GET /v1/calendars/{calendar_id}/open-intervals": Probe(
        query={"start": "2026-10-01T00:00:00Z", "end": "2026-10-02T00:00:00Z"}
    ),
    "GET /v1/clients": Probe(
        allowed=frozenset({"other_tenant_admin", "other_client_viewer", "other_client_key"})
    ),
    "POST /v1/clients": W(body={"code": "C{unique}", "name": "Probe"}, allowed=TENANT_ADMIN),
    "GET /v1/clients/{client_id}": Probe(),
    "PATCH /v1/clients/{client_id}": W(body={"name": "Probe"}),
    "DELETE /v1/clients/{client_id}": W(),
    "GET /v1/clients/{client_id}/services": Probe(),
    "POST /v1/clients/{client_id}/services": W(body={"code": "s{unique}", "name": "Probe"}),
    "GET /v1/clients/{client_id}/sla": Probe(query=PERIOD),
    "GET /v1/clients/{client_id}/sla.csv": Probe(query=PERIOD),
    "GET /v1/clients/{client_id}/estimate": Probe(),
    "GET /v1/services/{service_id}": Probe(),
    "PATCH /v1/services/{service_id}": W(body={"name": "Probe"}),
    "DELETE /v1/services/{service_id}": W(),
    "GET /v1/contracts": Probe(
        query={"client_id": "{client}"},
        allowed=frozenset({"other_tenant_admin", "other_client_viewer", "other_client_key"}),
    ),
    "POST /v1/contracts": W(body=CONTRACT_BODY),
    "GET /v1/contracts/{contract_id}": Probe(),
    "PATCH /v1/contracts/{contract_id}": W(body={"name": "Probe"}),
    "POST /v1/contracts/{contract_id}/transitions": W(body={"status": "suspended"}),
    "PUT /v1/contracts/{contract_id}/sla-policies/{sla_policy_id}": W(
        body={
            "objectives": [
                {"metric": "first_response", "threshold": "2h", "target_percent": 90, "clock": "calendar"}
            ]
        }
    ),
    "DELETE /v1/contracts/{contract_id}/sla-policies/{sla_policy_id}": W(),
    "PUT /v1/contracts/{contract_id}/rate-plans/{rate_plan_id}": W(
        body={
            "currency": "JPY",
            "charges": [{"kind": "fixed_monthly", "code": "base", "name": "Base", "amount": 1000}],
        }
    ),
    "DELETE /v1/contracts/{contract_id}/rate-plans/{rate_plan_id}": W(),
    "GET /v1/job-failures": Probe(allowed=TENANT_ADMIN),
    "GET /v1/contracts/{contract_id}/sla-policies": Probe(),
    "POST /v1/contracts/{contract_id}/sla-policies": W(
        body={
            "effective_from": "2027-01-01",
            "objectives": [
                {"metric": "first_response", "threshold": "2h", "target_percent": 90, "clock": "calendar"}
            ],
        }
    ),
    "GET /v1/contracts/{contract_id}/rate-plans": Probe(),
    "POST /v1/contracts/{contract_id}/rate-plans": W(
        body={
            "effective_from": "2027-01-01",
            "currency": "JPY",
            "charges": [{"kind": "fixed_monthly", "code": "base", "name": "Base", "amount": 1000}],
        }
    ),
    # work, SLA, alerts
    "POST /v1/work-items:batch": W(body={"contract_id": "{contract}", "items": [ITEM]}),
    "GET /v1/contracts/{contract_id}/work-items": Probe(),
    "GET /v1/work-items": Probe(query={"contract": "{contract}"}),
    "GET /v1/work-items.csv": Probe(query={"contract": "{contract}"}),
    "GET /v1/work-items/{work_item_id}": Probe(),
    "GET /v1/contracts/{contract_id}/sla": Probe(query=PERIOD),
    "GET /v1/contracts/{contract_id}/sla.csv": Probe(query=PERIOD),
    "GET /v1/alerts": Probe(
        query={"contract_id": "{contract}"},
        allowed=frozenset({"other_tenant_admin", "other_client_viewer"}),
    ),
    "GET /v1/alerts/{alert_id}": Probe(),
    "POST /v1/alerts/{alert_id}/acknowledge": W(),
    "POST /v1/alerts/{alert_id}/assign": W(body={"assignee_id": "{supervisor_user}"}),
    "POST /v1/alerts/{alert_id}/resolve": W(body={"note": "probe"}),
    # satisfaction and productivity
    "GET /v1/contracts/{contract_id}/nps-responses": Probe(),
    "POST /v1/contracts/{contract_id}/nps-responses": W(body={"items": [NPS_ANSWER]}),
    "GET /v1/contracts/{contract_id}/productivity": Probe(query={"from": "2026-10-01", "to": "2026-10-31"}),
    # billing
    "GET /v1/contracts/{contract_id}/usage": Probe(query=PERIOD),
    "GET /v1/invoices": Probe(
        query={"client_id": "{client}"}, allowed=frozenset({"other_tenant_admin", "other_client_viewer"})
    ),
    "GET /v1/invoices/{invoice_ref}": Probe(path={"invoice_ref": "{invoice}"}),
    "GET /v1/invoices/{invoice_id}/pdf": Probe(),
    "POST /v1/invoices/{invoice_id}/finalize": W(),
    "POST /v1/invoices/{invoice_id}/void": W(),
    "POST /v1/invoices/{invoice_id}/mark-uncollectible": W(),
    "POST /v1/invoices/{invoice_id}/credit-notes": W(body={"full_reversal": True}),
    "POST /v1/invoice-runs": W(body={"period": "2026-07"}, allowed=TENANT_ADMIN),
    "GET /v1/invoice-runs/{run_id}": Probe(path={"run_id": "{invoice_run}"}),
    "GET /v1/billing/settings": Probe(allowed=TENANT_ADMIN),
    "PUT /v1/billing/settings": W(
        body={"stripe_account_id": None, "tax_rate": "0.10", "tax_rounding": "floor"}, allowed=TENANT_ADMIN
    ),
    "GET /v1/billing/issuer": Probe(allowed=TENANT_ADMIN),
    "PUT /v1/billing/issuer": W(body={"address": None, "bank_account": None}, allowed=TENANT_ADMIN),
    "GET /v1/billing/reconciliation": Probe(owner=None, allowed=TENANT_ADMIN),
    "POST /v1/billing/reconciliation": W(allowed=TENANT_ADMIN),
    "POST /v1/stripe/webhooks": Public("Stripe signs the raw body; the signature is the credential"),
    # outbound webhooks
    "GET /v1/webhook-endpoints": Probe(allowed=TENANT_ADMIN),
    "POST /v1/webhook-endpoints": W(
        body={"url": "http://127.0.0.1:9/probe", "event_types": ["sla.breached"], "client_id": "{client}"}
    ),
    "GET /v1/webhook-endpoints/{endpoint_id}": Probe(path={"endpoint_id": "{webhook_endpoint}"}),
    "PATCH /v1/webhook-endpoints/{endpoint_id}": W(
        path={"endpoint_id": "{webhook_endpoint}"}, body={"description": "probe"}
    ),
    "DELETE /v1/webhook-endpoints/{endpoint_id}": W(path={"endpoint_id": "{webhook_endpoint}"}),
    "GET /v1/webhook-endpoints/{endpoint_id}/deliveries": Probe(path={"endpoint_id": "{webhook_endpoint}"}),
    "POST /v1/webhook-endpoints/{endpoint_ref}": W(path={"endpoint_ref": "{webhook_endpoint}:rotate-secret"}),
    "POST /v1/webhook-deliveries/{delivery_ref}": W(path={"delivery_ref": "{webhook_delivery}:replay"}),
    # outgoing mail
    "GET /v1/messages": Probe(allowed=TENANT_ADMIN),
    "GET /v1/messages/{message_id}": Probe(),
    "POST /v1/messages/{message_id}/retry": W(),
    "POST /v1/messages/test": W(body={"to": "probe-{unique}@probe.example"}, allowed=TENANT_ADMIN),
    # client reports
    "GET /v1/clients/{client_id}/report-subscriptions": Probe(),
    "POST /v1/clients/{client_id}/report-subscriptions": W(
        body={"cadence": "monthly", "day_of_month": 3, "send_at": "09:00"}
    ),
    "GET /v1/report-subscriptions/{subscription_id}": Probe(
        path={"subscription_id": "{report_subscription}"}
    ),
    "PATCH /v1/report-subscriptions/{subscription_id}": W(
        path={"subscription_id": "{report_subscription}"}, body={"send_at": "10:00"}
    ),
    "DELETE /v1/report-subscriptions/{subscription_id}": W(path={"subscription_id": "{report_subscription}"}),
    "GET /v1/reports": Probe(allowed=EVERYONE),
    "POST /v1/reports": W(body={"client_id": "{client}", "period": "2026-W45", "send": False}),
    "GET /v1/reports/{report_id}": Probe(),
    "GET /v1/reports/{report_id}/html": Probe(),
    "GET /v1/reports/{report_id}/pdf": Probe(),
    "GET /v1/reports/{report_id}/csv": Probe(),
    # users' voices
    "GET /v1/voices": Probe(query={"contract": "{contract}"}, staff_work_here=True),
    "POST /v1/voices": W(body={"contract_id": "{contract}", "text": "probe {unique}"}, staff_work_here=True),
    "GET /v1/voices/{voice_id}": Probe(staff_work_here=True),
    # The voice is highlighted already: A's own staff would change nothing either.
    "PATCH /v1/voices/{voice_id}": W(body={"highlighted": True}, staff_work_here=True),
    "DELETE /v1/voices/{voice_id}": W(staff_work_here=True),
    "GET /v1/contracts/{contract_id}/voice-categories": Probe(staff_work_here=True),
    "PUT /v1/contracts/{contract_id}/voice-categories": W(
        body={"categories": [{"key": "praise", "label_ja": "好評", "label_en": "Praise"}]}
    ),
    "GET /v1/clients/{client_id}/voices/summary": Probe(
        query={"start": "2026-10-05", "end": "2026-10-11"}, staff_work_here=True
    ),
    # escalations: the tenant's staff raise and resolve them on any of its contracts
    "POST /v1/escalations": W(
        body={
            "severity": "critical",
            "reason": "probe",
            "recommended_action": "probe",
            "contract_id": "{contract}",
        },
        staff_work_here=True,
    ),
    "GET /v1/escalations": Probe(query={"contract_id": "{contract}"}, staff_work_here=True),
    "GET /v1/escalations/{escalation_id}": Probe(staff_work_here=True),
    "POST /v1/escalations/{escalation_id}/acknowledge": W(),
    "POST /v1/escalations/{escalation_id}/resolve": W(body={"note": "probe"}, staff_work_here=True),
    "GET /v1/contracts/{contract_id}/escalation-rules": Probe(),
    "PUT /v1/contracts/{contract_id}/escalation-rules": W(body={}),
    # staffing
    "GET /v1/staff": Probe(allowed=TENANT_ADMIN),
    "POST /v1/staff": W(
        body={"display_name": "Probe", "home_zone": "Asia/Tokyo", "country": "JP", "site_ids": ["{site}"]}
    ),
    "GET /v1/staff/{staff_id}": Probe(),
    "PATCH /v1/staff/{staff_id}": W(body={"display_name": "Probe"}),
    "DELETE /v1/staff/{staff_id}": W(),
    "POST /v1/staff/{staff_id}/time-off": W(
        body={"start": "2027-02-01T00:00:00Z", "end": "2027-02-02T00:00:00Z"}
    ),
    "GET /v1/time-off": Probe(
        query={"staff_id": "{staff}"}, allowed=frozenset({"other_tenant_admin", "other_staff"})
    ),
    "GET /v1/time-off/{time_off_id}": Probe(),
    "POST /v1/time-off/{reference}": W(path={"reference": "{time_off}:cancel"}),
    "GET /v1/shifts": Probe(query={"contract_id": "{contract}"}, allowed=TENANT_ADMIN),
    "POST /v1/shifts": W(body={"contract_id": "{contract}", **SHIFT_TIMES}),
    "GET /v1/shifts/{shift_id}": Probe(),
    "PATCH /v1/shifts/{shift_id}": W(body={"headcount": 2}),
    "DELETE /v1/shifts/{shift_id}": W(),
    "POST /v1/shifts/{shift_id}/assignments": W(body={"staff_id": "{other_staff}"}),
    "POST /v1/shifts:publish": W(
        body={"contract_id": "{contract}", "from": "2026-12-01", "to": "2026-12-31"}
    ),
    "POST /v1/contracts/{contract_id}/shifts:generate": W(body={"from": "2026-12-01", "to": "2026-12-02"}),
    "GET /v1/contracts/{contract_id}/coverage": Probe(query={"from": "2026-12-01", "to": "2026-12-31"}),
    "POST /v1/contracts/{contract_id}/forecast": W(
        body={
            "start": "2026-12-01T00:00:00Z",
            "arrivals": [10.0],
            "aht_seconds": 300,
            "objective": {"threshold": "20s", "target_percent": 80},
        }
    ),
    "GET /v1/assignments": Probe(query={"staff_id": "{staff}"}, allowed=TENANT_ADMIN),
    "GET /v1/assignments/{assignment_id}": Probe(),
    "DELETE /v1/assignments/{assignment_id}": W(),
    "GET /v1/staffing/settings": Probe(allowed=TENANT_ADMIN),
    # notifications: each person's own preferences; the tenant's settings
    "GET /v1/me/notification-preferences": Probe(owner="staff", allowed=EVERYONE),
    "PUT /v1/me/notification-preferences": W(body={"mail": {"shifts": True}}, allowed=EVERYONE),
    "GET /v1/notification-settings": Probe(allowed=TENANT_ADMIN),
    "PUT /v1/notification-settings": W(body={"late_after_minutes": 10}, allowed=TENANT_ADMIN),
    "PUT /v1/staffing/settings": W(body={}, allowed=TENANT_ADMIN),
    "GET /v1/schedule-runs": Probe(allowed=TENANT_ADMIN),
    "POST /v1/schedule-runs": W(
        body={"from": "2026-12-01", "to": "2026-12-02", "contract_ids": ["{contract}"]}
    ),
    "GET /v1/schedule-runs/{run_id}": Probe(path={"run_id": "{schedule_run}"}),
    # staff self-service
    "GET /v1/me/shifts": Probe(owner="staff", allowed=EVERYONE),
    "GET /v1/me/availability": Probe(owner="staff", allowed=EVERYONE),
    # Acts on the caller's own profile only (other_staff's, or a 404 without one).
    "PUT /v1/me/availability": W(body={"availability": None, "preferred_times": None}, allowed=EVERYONE),
    "POST /v1/me/calendar-feed": W(allowed=EVERYONE),
    "DELETE /v1/me/calendar-feed": W(allowed=EVERYONE),
    "POST /v1/staff/{staff_id}/calendar-feed": W(),
    "DELETE /v1/staff/{staff_id}/calendar-feed": W(),
    "GET /v1/calendar/{feed}": Public("the feed URL's token is the credential (iCal clients send no header)"),
    "POST /v1/me/swap-requests": W(
        body={"assignment_id": "{assignment}", "counterpart_staff_id": "{other_staff}"}
    ),
    # Open shifts are offered to every staff member of the tenant; claims are each person's own.
    "GET /v1/me/open-shifts": Probe(
        owner="staff", allowed=EVERYONE, colleagues=frozenset({"open_shift", "contract"})
    ),
    "POST /v1/me/open-shifts/{shift_id}/claim": W(path={"shift_id": "{draft_shift}"}),
    "GET /v1/open-shift-claims": Probe(
        owner="staff", allowed=EVERYONE, colleagues=frozenset({"open_shift", "contract"})
    ),
    "GET /v1/open-shift-claims/{claim_ref}": Probe(path={"claim_ref": "{open_shift_claim}"}, owner="staff"),
    "POST /v1/open-shift-claims/{claim_ref}": W(path={"claim_ref": "{open_shift_claim}:cancel"}),
    # attendance
    "POST /v1/me/shifts/{shift_id}/clock-in": W(),
    "POST /v1/me/shifts/{shift_id}/clock-out": W(),
    "GET /v1/me/attendance": Probe(owner="staff", allowed=EVERYONE),
    "GET /v1/me/timesheet.csv": Probe(owner="staff", query={"month": "2026-12"}, allowed=EVERYONE),
    "GET /v1/attendance": Probe(query={"contract": "{contract}", "from": "2026-12-01", "to": "2026-12-31"}),
    "POST /v1/attendance/events": W(
        body={
            "events": [
                {
                    "shift_id": "{shift}",
                    "staff_id": "{staff}",
                    "kind": "clock_out",
                    "at": "2026-12-10T08:00:00Z",
                }
            ]
        }
    ),
    "PUT /v1/shifts/{shift_id}/attendance/{staff_id}": W(
        body={"clock_in": "2026-12-10T00:05:00Z", "reason": "probe"}
    ),
    "GET /v1/staff/{staff_id}/timesheet.csv": Probe(query={"month": "2026-12"}),
    "GET /v1/swap-requests": Probe(owner="staff", allowed=EVERYONE),
    "GET /v1/swap-requests/{swap_ref}": Probe(path={"swap_ref": "{swap}"}, owner="staff"),
    "POST /v1/swap-requests/{swap_ref}": W(path={"swap_ref": "{swap}:cancel"}),
    # the browser dashboard
    "GET /dashboard/login": Public("sign-in form"),
    "POST /dashboard/login": Public("sign-in form"),
    "POST /dashboard/logout": Public("signs the cookie's session out; CSRF-checked"),
    "GET /dashboard": Probe(auth="cookie", allowed=EVERYONE),
    "GET /dashboard/clients/{client_id}": Probe(auth="cookie"),
    "GET /dashboard/clients/{client_id}/items": Probe(
        auth="cookie", query={"objective": "first_response", "status": "met", **PERIOD}
    ),
    "GET /dashboard/items/{item_id}": Probe(auth="cookie", path={"item_id": "{work_item}"}),
    "GET /dashboard/invoices": Probe(auth="cookie", query={"client": "{client}"}, allowed=EVERYONE),
    "GET /dashboard/invoices/{invoice_id}": Probe(auth="cookie"),
    "GET /dashboard/static/{file_path}": Public("stylesheet and icon"),
    "GET /dashboard/reports": Probe(auth="cookie", query={"client": "{client}"}, allowed=EVERYONE),
    "GET /dashboard/reports/{name}": Probe(auth="cookie", path={"name": "{report}"}),
    # a person's own pages and password
    "GET /dashboard/me": Probe(auth="cookie", owner="staff", allowed=EVERYONE),
    "GET /dashboard/me/shifts": Probe(auth="cookie", owner="staff", allowed=EVERYONE),
    "GET /dashboard/me/calendar": Probe(auth="cookie", owner="staff", allowed=EVERYONE),
    "POST /dashboard/me/calendar-feed": W(auth="cookie", allowed=EVERYONE),
    "POST /dashboard/me/calendar-feed/revoke": W(auth="cookie", allowed=EVERYONE),
    "GET /dashboard/me/time-off": Probe(auth="cookie", owner="staff", allowed=EVERYONE),
    "POST /dashboard/me/time-off": W(auth="cookie", allowed=EVERYONE),
    "POST /dashboard/me/time-off/{time_off_id}/cancel": W(auth="cookie"),
    "GET /dashboard/me/swaps": Probe(
        auth="cookie", owner="staff", allowed=EVERYONE, colleagues=frozenset({"staff", "third_staff"})
    ),
    "POST /dashboard/me/swaps": W(auth="cookie", allowed=EVERYONE),
    "POST /dashboard/me/swaps/{swap_id}/{action}": W(auth="cookie", path={"action": "cancel"}),
    "POST /dashboard/me/shifts/{shift_id}/{action}": W(auth="cookie", path={"action": "clock-in"}),
    "GET /dashboard/me/open-shifts": Probe(
        auth="cookie", owner="staff", allowed=EVERYONE, colleagues=frozenset({"open_shift"})
    ),
    "POST /dashboard/me/open-shifts/{shift_id}/claim": W(auth="cookie", path={"shift_id": "{draft_shift}"}),
    "POST /dashboard/me/open-shifts/claims/{claim_id}/cancel": W(
        auth="cookie", path={"claim_id": "{open_shift_claim}"}
    ),
    "GET /dashboard/me/availability": Probe(auth="cookie", owner="staff", allowed=EVERYONE),
    "POST /dashboard/me/availability": W(auth="cookie", allowed=EVERYONE),
    "GET /dashboard/account/password": Probe(auth="cookie", owner="staff", allowed=EVERYONE),
    "POST /dashboard/account/password": W(auth="cookie", allowed=EVERYONE),
    # The caller's own notification preferences only (there is no id to name anyone else's).
    "GET /dashboard/account/notifications": Probe(auth="cookie", owner="staff", allowed=EVERYONE),
    "POST /dashboard/account/notifications": W(auth="cookie", allowed=EVERYONE),
    "GET /dashboard/password/forgot": Public("asks for a reset link; answers alike for every address"),
    "POST /dashboard/password/forgot": Public("asks for a reset link; answers alike for every address"),
    "GET /dashboard/escalations": Probe(auth="cookie", allowed=EVERYONE),
    "GET /dashboard/escalations/{escalation_id}": Probe(auth="cookie"),
    "POST /dashboard/escalations/{escalation_id}/acknowledge": W(auth="cookie"),
    "GET /dashboard/alerts": Probe(auth="cookie"),
    "POST /dashboard/alerts/{alert_id}/{action}": W(auth="cookie", path={"action": "acknowledge"}),
    "GET /dashboard/acknowledge/{token}": Public("the mailed single-use token is the credential"),
    "POST /dashboard/acknowledge/{token}": Public("the mailed single-use token is the credential"),
    "GET /dashboard/password/reset/{token}": Public("the mailed single-use token is the credential"),
    "POST /dashboard/password/reset/{token}": Public("the mailed single-use token is the credential"),
    "HEAD /dashboard/static/{file_path}": Public("stylesheet and icon"),
    "GET /dashboard/roster": Probe(auth="cookie", query={"contract": "{contract}"}),
    "POST /dashboard/roster/plan": W(auth="cookie"),
    "POST /dashboard/roster/publish": W(auth="cookie"),
    "GET /dashboard/approvals": Probe(auth="cookie", allowed=TENANT_ADMIN),
    "POST /dashboard/approvals/{kind}/{item_id}/{decision}": W(
        auth="cookie", path={"kind": "time-off", "item_id": "{time_off}", "decision": "reject"}
    ),
}


def served_routes() -> dict[str, str]:
    """Every method and path the app answers (Litestar's automatic OPTIONS aside), with its handler."""
    app = create_app(load_settings(log_level="WARNING"))
    served = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method != "OPTIONS":
                    served[f"{method} {route.path_format}"] = handler.handler_name
    return served


def test_every_route_is_declared() -> None:
    served = served_routes()
    missing = sorted(set(served) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(served))
    advice = [
        f"  {key!r}: Probe(...),  # handler {served[key]}: path params <name>_id default to {{<name>}}; "
        "W(...) for a write; Public('why') only if reachable without credentials by design"
        for key in missing
    ]
    assert not missing, "Declare in tests/security/test_isolation.py ROUTES:\n" + "\n".join(advice)
    assert not stale, f"No longer served, remove from ROUTES: {stale}"


# --- running a probe --------------------------------------------------------------------------------


class Fill:
    """Placeholder values: A's real ones, or fresh random ones for the "missing" twin of a call."""

    def __init__(self, world: World, *, real: bool) -> None:
        self.world = world
        self.real = real
        self.fakes: dict[str, str] = {}

    def value(self, name: str) -> str:
        if name == "unique":
            return uuid.uuid4().hex[:10]
        known = {**self.world.ids, **self.world.values}
        if name not in known:
            raise KeyError(f"no object named {name!r} in the world; seed it (tests/security/world.py)")
        if self.real:
            return known[name]
        if name not in self.fakes:
            self.fakes[name] = str(uuid.uuid4()) if name in self.world.ids else f"x-{uuid.uuid4().hex[:12]}"
        return self.fakes[name]

    def text(self, template: str) -> str:
        return PLACEHOLDER.sub(lambda m: self.value(m[1]), template)

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value


def _path(template: str, probe: Probe, fill: Fill) -> str:
    def param(match: re.Match[str]) -> str:
        name = match[1]
        if name in probe.path:
            return fill.text(probe.path[name])
        if name.endswith("_id"):
            return fill.value(name.removesuffix("_id"))
        raise KeyError(f"say how to fill {{{name}}}: Probe(path={{{name!r}: '{{<world name>}}'}})")

    return PLACEHOLDER.sub(param, template)


async def call(http: httpx.AsyncClient, key: str, probe: Probe, caller: Caller, fill: Fill) -> httpx.Response:
    method, template = key.split(" ", 1)
    headers: dict[str, str] = {}
    http.cookies.clear()
    if probe.auth == "cookie":
        http.cookies.set(
            SESSION_COOKIE, caller.token or caller.headers["Authorization"].removeprefix("Bearer ")
        )
    else:
        headers.update(caller.headers)
    return await http.request(
        method,
        _path(template, probe, fill),
        params={k: fill.text(v) for k, v in probe.query.items()},
        json=fill.json(probe.body) if probe.body is not None or method in {"POST", "PUT", "PATCH"} else None,
        headers=headers,
    )


def outcome(response: httpx.Response) -> tuple[int, str | None]:
    problem = response.headers.get("content-type", "").startswith("application/problem+json")
    return response.status_code, response.json().get("type") if problem else None


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


async def snapshot(http: httpx.AsyncClient, world: World) -> dict[str, Any]:
    fill = Fill(world, real=True)
    seen = {}
    for template in world.snapshot:
        response = await http.get(fill.text(template), headers=world.tenant.admin)
        assert response.status_code == 200, f"{template}: {response.text}"
        seen[template] = _stable(response.json())
    return seen


def leaked(response: httpx.Response, world: World, attacker: str, probe: Probe) -> list[str]:
    if not 200 <= response.status_code < 300:
        return []
    own = world.owned_by.get(attacker, set()) | (probe.colleagues if attacker == "other_staff" else set())
    return sorted(name for name, value in world.ids.items() if value in response.text and name not in own)


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient, runtime: Runtime) -> World:
    return await build_world(client, runtime)


@pytest.fixture(scope="module")
async def http(server: Any) -> AsyncIterator[httpx.AsyncClient]:
    # A client of its own: probes clear cookies between calls.
    async with httpx.AsyncClient(base_url=server.url, timeout=30, follow_redirects=False) as client:
        yield client


PROBES = {key: entry for key, entry in ROUTES.items() if isinstance(entry, Probe)}


@pytest.mark.parametrize("key", sorted(PROBES))
async def test_not_yours_is_missing(key: str, http: httpx.AsyncClient, world: World) -> None:
    probe = PROBES[key]
    method = key.split(" ", 1)[0]
    failures: list[str] = []
    before = await snapshot(http, world) if method in WRITES else None
    if probe.owner is not None:
        own = await call(http, key, probe, world.caller(probe.owner), Fill(world, real=True))
        assert 200 <= own.status_code < 400, (
            f"{key}: A's {probe.owner} gets {own.status_code}, so the probe does not reach A's object: "
            f"{own.text[:300]}"
        )
    for name in ATTACKERS:
        if name == "other_staff" and probe.staff_work_here:
            continue
        attacker = world.caller(name)
        target = await call(http, key, probe, attacker, Fill(world, real=True))
        missing = await call(http, key, probe, attacker, Fill(world, real=False))
        where = f"{key} as {name}"
        if target.status_code >= 500 or missing.status_code >= 500:
            failures.append(
                f"{where}: server error {target.status_code}/{missing.status_code}: {target.text}"
            )
            continue
        if outcome(target) != outcome(missing):
            failures.append(
                f"{where}: not yours {outcome(target)} differs from missing {outcome(missing)}: "
                + target.text[:300]
            )
        # Even where the route acts on the caller's own data, nothing of A's but what it owns may show.
        if names := leaked(target, world, name, probe):
            failures.append(f"{where}: a {target.status_code} names A's {names}: {target.text[:300]}")
        if name not in probe.allowed and method in WRITES and 200 <= target.status_code < 300:
            failures.append(f"{where}: a write answered {target.status_code}: {target.text[:300]}")
        if (
            name == "other_tenant_admin"
            and method in WRITES
            and "{" in key
            and target.status_code in (400, 422)
        ):
            failures.append(
                f"{where}: {target.status_code} before any lookup, so the probe's body does not reach the "
                f"ownership check; fix the probe: {target.text[:300]}"
            )
    if before is not None:
        after = await snapshot(http, world)
        changed = [template for template in before if before[template] != after[template]]
        if changed:
            failures.append(
                f"{key}: A's objects changed: "
                + "; ".join(
                    f"{t}: {json.dumps(before[t])[:200]} -> {json.dumps(after[t])[:200]}" for t in changed
                )
            )
    assert not failures, "\n".join(failures)
