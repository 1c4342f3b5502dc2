"""A small Stripe for tests: the endpoints BPO Ops calls, over real HTTP on 127.0.0.1.

The real ``stripe`` client talks to it (``base_addresses={"api": fake.url}``). It speaks Stripe's wire
format: form-encoded requests (``metadata[key]=…``), JSON objects with ``object``, prefixed ids and
``livemode``, errors as ``{"error": {"type", "message", "code", "param"}}``. It keeps objects per connected
account (``Stripe-Account``; another account's id is a 404 ``resource_missing``), honours
``Idempotency-Key`` per account (same key and parameters: the first response replayed, with
``Idempotent-Replayed: true``; same key, other parameters: 400 ``idempotency_error``), can fail the next
requests with a 500 or answer them only after a delay (the work done first, as when a client times out
while Stripe succeeds), counts what it creates, and signs webhook events like Stripe
(``Stripe-Signature: t=<unix time>,v1=<HMAC-SHA256 of "<t>.<body>">``).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

API_KEY = "sk_test_bpo_fake"
WEBHOOK_SECRET = "whsec_bpo_fake_secret"
HOSTED_INVOICE_BASE = "https://invoice.stripe.com/i/acct_fake"
PREFIXES = {"customer": "cus", "invoice": "in", "invoiceitem": "ii", "line_item": "il", "event": "evt"}
_KEY = re.compile(r"[^\[\]]+")


class StripeError(Exception):
    def __init__(
        self, status: int, type_: str, message: str, code: str | None = None, param: str | None = None
    ):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "message": message, "code": code, "param": param}}


def missing(kind: str, object_id: str, param: str | None = None, status: int = 404) -> StripeError:
    return StripeError(
        status, "invalid_request_error", f"No such {kind}: '{object_id}'", "resource_missing", param
    )


def parse_form(body: str) -> dict[str, Any]:
    """``a[b][0]=x`` → ``{"a": {"b": {"0": "x"}}}``; list-like dicts become lists."""
    root: dict[str, Any] = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        parts = _KEY.findall(name)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    parsed: dict[str, Any] = _lists(root)
    return parsed


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _lists(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


def _flag(value: Any, default: bool = False) -> bool:
    return default if value is None else str(value).lower() == "true"


@dataclass
class Account:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Idempotency-Key -> (request fingerprint, status, body)
    keys: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Logged:
    method: str
    path: str
    account: str | None
    idempotency_key: str | None
    status: int
    replayed: bool


class FakeStripe:
    def __init__(self, api_key: str = API_KEY, webhook_secret: str = WEBHOOK_SECRET) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.accounts: dict[str | None, Account] = {None: Account()}
        self.created: Counter[tuple[str | None, str]] = Counter()
        self.log: list[Logged] = []
        self.lock = threading.Lock()
        self._failures: list[tuple[str, int]] = []
        self._delays: list[tuple[str, float]] = []
        self._ids = itertools.count(1)
        self._clock = itertools.count(int(time.time()))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-stripe", daemon=True)

    # --- lifecycle and knobs -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeStripe:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def connect_account(self) -> str:
        account_id = f"acct_{secrets.token_hex(8)}"
        with self.lock:
            self.accounts[account_id] = Account()
        return account_id

    def fail_next(self, count: int = 1, *, status: int = 500, path: str = "") -> None:
        """The next ``count`` requests whose path starts with ``path`` answer ``status``, doing nothing."""
        with self.lock:
            self._failures.extend([(path, status)] * count)

    def delay_next(self, seconds: float, *, count: int = 1, path: str = "") -> None:
        """The next ``count`` requests whose path starts with ``path`` do their work, then wait ``seconds``
        before answering (a client with a shorter timeout gives up although Stripe succeeded)."""
        with self.lock:
            self._delays.extend([(path, seconds)] * count)

    def count(self, kind: str, account: str | None = None) -> int:
        return self.created[(account, kind)]

    def objects(self, kind: str, account: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self._view(o, account) for o in self.accounts[account].objects.values() if o["object"] == kind
            ]

    def get(self, account: str | None, object_id: str) -> dict[str, Any]:
        with self.lock:
            return self._view(self.accounts[account].objects[object_id], account)

    # --- what happens at Stripe without us ---------------------------------------------------------

    def _transition(self, account: str | None, invoice_id: str, **changes: Any) -> dict[str, Any]:
        with self.lock:
            invoice = self.accounts[account].objects[invoice_id]
            invoice.update(changes)
            return self._view(invoice, account)

    def pay(self, account: str | None, invoice_id: str) -> dict[str, Any]:
        total = self.get(account, invoice_id)["total"]
        now = next(self._clock)
        return self._transition(
            account,
            invoice_id,
            status="paid",
            amount_paid=total,
            attempt_count=1,
            status_transitions={"finalized_at": now, "paid_at": now, "voided_at": None},
        )

    def fail_payment(self, account: str | None, invoice_id: str) -> dict[str, Any]:
        invoice = self.get(account, invoice_id)
        return self._transition(account, invoice_id, attempt_count=invoice["attempt_count"] + 1)

    def void(self, account: str | None, invoice_id: str) -> dict[str, Any]:
        return self._transition(account, invoice_id, status="void")

    def event(
        self, type_: str, data_object: dict[str, Any], account: str | None, *, created: int | None = None
    ) -> dict[str, Any]:
        return {
            "id": self._new_id("event"),
            "object": "event",
            "api_version": "2025-01-01",
            "account": account,
            "created": created if created is not None else int(time.time()),
            "data": {"object": data_object},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }

    def sign(self, payload: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
        stamp = int(time.time()) if timestamp is None else timestamp
        signed = f"{stamp}.".encode() + payload
        digest = hmac.new((secret or self.webhook_secret).encode(), signed, hashlib.sha256).hexdigest()
        return f"t={stamp},v1={digest}"

    async def send(
        self,
        client: httpx.AsyncClient,
        path: str,
        event: dict[str, Any],
        *,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """Deliver ``event`` to ``path`` as Stripe does: the JSON body and its signature header."""
        payload = json.dumps(event, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": self.sign(payload, secret=secret, timestamp=timestamp),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        return await client.post(path, content=payload, headers=headers)

    # --- the HTTP side --------------------------------------------------------------------------------

    def _new_id(self, kind: str) -> str:
        return f"{PREFIXES[kind]}_{secrets.token_hex(7)}{next(self._ids):04d}"

    def _take(self, queue: list[tuple[str, Any]], path: str) -> Any:
        for index, (prefix, value) in enumerate(queue):
            if path.startswith(prefix):
                del queue[index]
                return value
        return None

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: str
    ) -> tuple[int, dict[str, Any], dict[str, str], float]:
        """(status, JSON body, extra headers, seconds to wait before answering)."""
        url = urlsplit(target)
        path = url.path
        account = headers.get("stripe-account")
        key = headers.get("idempotency-key") if method == "POST" else None
        fingerprint = ""
        with self.lock:
            delay = self._take(self._delays, path) or 0.0
            failure = self._take(self._failures, path)
            try:
                if headers.get("authorization") != f"Bearer {self.api_key}":
                    raise StripeError(401, "invalid_request_error", "Invalid API Key provided.")
                if account not in self.accounts:
                    raise StripeError(
                        403,
                        "invalid_request_error",
                        f"The provided key does not have access to account '{account}' (or that account "
                        "does not exist).",
                        "account_invalid",
                    )
                if failure is not None:
                    raise StripeError(failure, "api_error", "An unexpected error occurred (injected).")
                params = parse_form(body if method == "POST" else url.query)
                state = self.accounts[account]
                fingerprint = json.dumps([method, path, params], sort_keys=True)
                if key is not None and key in state.keys:
                    first, status, stored = state.keys[key]
                    if first != fingerprint:
                        raise StripeError(
                            400,
                            "idempotency_error",
                            f"Keys for idempotent requests can only be used with the same parameters they "
                            f"were first used with. Try using a key other than '{key}' if you meant to "
                            "execute a different request.",
                        )
                    self._record(method, path, account, key, status, replayed=True)
                    return status, stored, {"Idempotent-Replayed": "true"}, delay
                status, response = 200, self._route(method, path, params, account)
            except StripeError as error:
                status, response = error.status, error.body
            # Like Stripe, only a request that ran is remembered: not one refused before it started.
            if key is not None and status == 200:
                self.accounts[account].keys[key] = (fingerprint, status, response)
            self._record(method, path, account, key, status, replayed=False)
            return status, response, {}, delay

    def _record(
        self, method: str, path: str, account: str | None, key: str | None, status: int, *, replayed: bool
    ) -> None:
        self.log.append(Logged(method, path, account, key, status, replayed))

    def _route(self, method: str, path: str, params: dict[str, Any], account: str | None) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        match method, parts:
            case "POST", ["v1", "customers"]:
                return self._create_customer(params, account)
            case "GET", ["v1", "customers", customer_id]:
                return self._view(self._find("customer", customer_id, account), account)
            case "POST", ["v1", "invoices"]:
                return self._create_invoice(params, account)
            case "GET", ["v1", "invoices"]:
                return self._list_invoices(params, account)
            case "GET", ["v1", "invoices", invoice_id]:
                return self._view(self._find("invoice", invoice_id, account), account)
            case "POST", ["v1", "invoices", invoice_id, "finalize"]:
                return self._finalize(invoice_id, params, account)
            case "POST", ["v1", "invoiceitems"]:
                return self._create_item(params, account)
        raise StripeError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _find(
        self, kind: str, object_id: str, account: str | None, param: str | None = None
    ) -> dict[str, Any]:
        found = self.accounts[account].objects.get(object_id)
        if found is None or found["object"] != kind:
            raise missing(kind, object_id, param, status=400 if param else 404)
        return found

    def _store(self, kind: str, account: str | None, **fields: Any) -> dict[str, Any]:
        stored = {
            "id": self._new_id(kind),
            "object": kind,
            "livemode": False,
            "created": next(self._clock),
            **fields,
        }
        self.accounts[account].objects[stored["id"]] = stored
        self.created[(account, kind)] += 1
        return stored

    def _create_customer(self, params: dict[str, Any], account: str | None) -> dict[str, Any]:
        customer = self._store(
            "customer",
            account,
            name=params.get("name"),
            email=params.get("email"),
            metadata=params.get("metadata", {}),
        )
        return self._view(customer, account)

    def _create_invoice(self, params: dict[str, Any], account: str | None) -> dict[str, Any]:
        customer_id = params.get("customer")
        if not customer_id:
            raise StripeError(
                400,
                "invalid_request_error",
                "Missing required param: customer.",
                "parameter_missing",
                "customer",
            )
        customer = self._find("customer", customer_id, account, "customer")
        if params.get("collection_method") == "send_invoice" and not (
            params.get("due_date") or params.get("days_until_due")
        ):
            raise StripeError(
                400,
                "invalid_request_error",
                "due_date or days_until_due is required for send_invoice.",
                None,
                "due_date",
            )
        number = params.get("number")
        if number and any(o.get("number") == number for o in self.accounts[account].objects.values()):
            raise StripeError(
                400, "invalid_request_error", f"Invoice number {number} already exists.", None, "number"
            )
        invoice = self._store(
            "invoice",
            account,
            customer=customer["id"],
            currency=params.get("currency", "usd"),
            collection_method=params.get("collection_method", "charge_automatically"),
            auto_advance=_flag(params.get("auto_advance")),
            due_date=int(params["due_date"]) if params.get("due_date") else None,
            number=number,
            description=params.get("description"),
            footer=params.get("footer"),
            metadata=params.get("metadata", {}),
            status="draft",
            amount_paid=0,
            attempt_count=0,
            status_transitions={"finalized_at": None, "paid_at": None, "voided_at": None},
        )
        return self._view(invoice, account)

    def _create_item(self, params: dict[str, Any], account: str | None) -> dict[str, Any]:
        customer = self._find("customer", params.get("customer", ""), account, "customer")
        invoice_id = params.get("invoice")
        if invoice_id:
            invoice = self._find("invoice", invoice_id, account, "invoice")
            if invoice["status"] != "draft":
                raise StripeError(
                    400,
                    "invalid_request_error",
                    "You can only add items to a draft invoice.",
                    "invoice_not_editable",
                    "invoice",
                )
            if invoice["customer"] != customer["id"]:
                raise StripeError(
                    400, "invalid_request_error", "The invoice belongs to another customer.", None, "invoice"
                )
            if invoice["currency"] != params.get("currency"):
                raise StripeError(
                    400, "invalid_request_error", "Currency does not match the invoice.", None, "currency"
                )
        try:
            amount = int(params["amount"])
        except (KeyError, ValueError):
            raise StripeError(
                400,
                "invalid_request_error",
                "Invalid integer: amount.",
                "parameter_invalid_integer",
                "amount",
            ) from None
        item = self._store(
            "invoiceitem",
            account,
            customer=customer["id"],
            invoice=invoice_id,
            amount=amount,
            currency=params.get("currency"),
            description=params.get("description"),
            metadata=params.get("metadata", {}),
            quantity=1,
        )
        return self._view(item, account)

    def _finalize(self, invoice_id: str, params: dict[str, Any], account: str | None) -> dict[str, Any]:
        invoice = self._find("invoice", invoice_id, account)
        if invoice["status"] != "draft":
            raise StripeError(
                400, "invalid_request_error", "This invoice is already finalized.", "invoice_unexpected_state"
            )
        invoice["status"] = "open"
        # As Stripe does on finalizing: the page where the customer pays.
        invoice["hosted_invoice_url"] = f"{HOSTED_INVOICE_BASE}/{invoice_id}"
        invoice["auto_advance"] = _flag(params.get("auto_advance"), invoice["auto_advance"])
        invoice["status_transitions"] = {**invoice["status_transitions"], "finalized_at": next(self._clock)}
        if self._view(invoice, account)["total"] == 0:
            invoice["status"] = "paid"
        return self._view(invoice, account)

    def _list_invoices(self, params: dict[str, Any], account: str | None) -> dict[str, Any]:
        limit = min(int(params.get("limit", 10)), 100)
        since = int(params.get("created", {}).get("gte", 0))
        invoices = sorted(
            (
                o
                for o in self.accounts[account].objects.values()
                if o["object"] == "invoice" and o["created"] >= since
            ),
            key=lambda o: (o["created"], o["id"]),
            reverse=True,
        )
        after = params.get("starting_after")
        if after:
            ids = [o["id"] for o in invoices]
            if after not in ids:
                raise missing("invoice", after, "starting_after", status=400)
            invoices = invoices[ids.index(after) + 1 :]
        page = invoices[:limit]
        return {
            "object": "list",
            "url": "/v1/invoices",
            "has_more": len(invoices) > limit,
            "data": [self._view(o, account) for o in page],
        }

    def _view(self, stored: dict[str, Any], account: str | None) -> dict[str, Any]:
        view: dict[str, Any] = json.loads(json.dumps(stored))
        if stored["object"] == "invoice":
            items = [
                o
                for o in self.accounts[account].objects.values()
                if o["object"] == "invoiceitem" and o["invoice"] == stored["id"]
            ]
            total = sum(item["amount"] for item in items)
            lines = [
                {
                    "id": f"il_{item['id'][3:]}",
                    "object": "line_item",
                    "amount": item["amount"],
                    "currency": item["currency"],
                    "description": item["description"],
                    "invoice": stored["id"],
                    "metadata": item["metadata"],
                    "quantity": 1,
                }
                for item in sorted(items, key=lambda i: i["created"])
            ]
            view.update(
                subtotal=total,
                total=total,
                amount_due=total,
                amount_remaining=total - stored["amount_paid"],
                lines={
                    "object": "list",
                    "url": f"/v1/invoices/{stored['id']}/lines",
                    "has_more": False,
                    "data": lines,
                },
            )
        return view


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, response, extra, delay = fake.handle(self.command, self.path, headers, body)
            if delay:
                time.sleep(delay)
            payload = json.dumps(response).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up waiting (a simulated timeout); the work is done all the same.
                self.close_connection = True

        do_GET = _serve
        do_POST = _serve
        do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
