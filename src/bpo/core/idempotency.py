"""``Idempotency-Key`` on POST: the first response is stored per tenant and replayed for the same key.

The same key with a different request is a 409; a request still in flight with that key is a 409 too.
Only responses below 500 are stored, so a failed request may be retried with the same key.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Send
from litestar.types import Scope as ASGIScope
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert

from bpo.core.errors import BadRequest, Conflict, field_error
from bpo.core.input_guard import read_body, replaying
from bpo.core.models import IdempotencyRecord
from bpo.core.runtime import Runtime
from bpo.core.scope import Scope

HEADER = b"idempotency-key"
SECRET_FIELDS_OPT = "secret_fields"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# A claimed key with no stored response after this long belongs to a request that died.
ABANDONED_AFTER = timedelta(minutes=2)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class IdempotencyMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: ASGIScope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        http = cast("dict[str, Any]", scope)
        key = _header(http, HEADER) if http["method"] == "POST" else None
        caller = http.get("auth")
        if key is None or not isinstance(caller, Scope):
            await next_app(scope, receive, send)
            return
        if not _VALID_KEY.match(key):
            raise BadRequest(
                "Idempotency-Key must be 1-255 visible ASCII characters.",
                slug="invalid-idempotency-key",
                errors=[field_error("header.Idempotency-Key", "1-255 visible ASCII characters")],
            )
        runtime: Runtime = http["litestar_app"].state.runtime
        body = await read_body(receive, runtime.settings.max_body_bytes)
        digest = hashlib.sha256()
        for part in (
            http["method"],
            http["path"],
            http.get("query_string", b"").decode(),
            caller.principal_id.hex,
        ):
            digest.update(part.encode() + b"\0")
        digest.update(body)
        request_hash = digest.hexdigest()
        stored = await _claim(runtime, caller, key, request_hash)
        if stored is not None:
            await _replay(send, stored)
            return

        captured: dict[str, Any] = {"status": 500, "content_type": None, "body": bytearray()}
        held: list[Message] = []

        async def capture_send(message: Message) -> None:
            # Held back until the outcome is stored: a retry sent as soon as the client has the
            # response must find it stored, not still in progress.
            held.append(message)
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        captured["content_type"] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))

        try:
            await next_app(scope, replaying(body), capture_send)
        except BaseException:
            await _release(runtime, caller, key)
            raise
        if captured["status"] >= 500:
            await _release(runtime, caller, key)
        else:
            stored_body = _without_secrets(http, bytes(captured["body"]))
            await _store(runtime, caller, key, captured["status"], captured["content_type"], stored_body)
        for message in held:
            await send(message)


def _without_secrets(scope: dict[str, Any], body: bytes) -> bytes:
    """Fields a route marks as secret (opt ``secret_fields``, e.g. a new API key) are never stored:
    a replay answers with them set to null, so the secret exists only in the first response."""
    handler = scope.get("route_handler")
    fields = getattr(handler, "opt", {}).get(SECRET_FIELDS_OPT, ())
    if not fields or not body:
        return body
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict):
        document.update({name: None for name in fields if name in document})
    return json.dumps(document, separators=(",", ":")).encode()


async def _claim(runtime: Runtime, caller: Scope, key: str, request_hash: str) -> IdempotencyRecord | None:
    """Claim ``key`` for this request; return the stored record when there is a response to replay."""
    now = datetime.now(UTC)
    async with runtime.db.tenant(caller.tenant_id) as session:
        inserted = await session.scalar(
            insert(IdempotencyRecord)
            .values(
                tenant_id=caller.tenant_id,
                key=key,
                principal_id=caller.principal_id,
                request_hash=request_hash,
                expires_at=now + timedelta(seconds=runtime.settings.idempotency_ttl_seconds),
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyRecord.key)
        )
        if inserted is not None:
            return None
        record = await session.scalar(
            select(IdempotencyRecord)
            .where(IdempotencyRecord.tenant_id == caller.tenant_id, IdempotencyRecord.key == key)
            .with_for_update()
        )
        if record is None:
            raise Conflict("This Idempotency-Key is being released; retry.", slug="idempotency-key-in-use")
        expired = record.expires_at <= now
        abandoned = record.status_code is None and record.created_at <= now - ABANDONED_AFTER
        if expired or abandoned:
            record.principal_id = caller.principal_id
            record.request_hash = request_hash
            record.status_code = None
            record.response_body = None
            record.content_type = None
            record.created_at = now
            record.expires_at = now + timedelta(seconds=runtime.settings.idempotency_ttl_seconds)
            return None
        if record.request_hash != request_hash:
            raise Conflict(
                "This Idempotency-Key was used for a different request.",
                slug="idempotency-key-reused",
                errors=[field_error("header.Idempotency-Key", "already used with a different request")],
            )
        if record.status_code is None:
            raise Conflict(
                "A request with this Idempotency-Key is still in progress.",
                slug="idempotency-key-in-use",
                headers={"Retry-After": "1"},
            )
        return record


async def _store(
    runtime: Runtime, caller: Scope, key: str, status: int, content_type: str | None, body: bytes
) -> None:
    async with runtime.db.tenant(caller.tenant_id) as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.tenant_id == caller.tenant_id, IdempotencyRecord.key == key)
            .values(status_code=status, content_type=content_type, response_body=body)
        )


async def _release(runtime: Runtime, caller: Scope, key: str) -> None:
    async with runtime.db.tenant(caller.tenant_id) as session:
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.tenant_id == caller.tenant_id,
                IdempotencyRecord.key == key,
                IdempotencyRecord.status_code.is_(None),
            )
        )


async def _replay(send: Send, record: IdempotencyRecord) -> None:
    body = record.response_body or b""
    headers = [(b"idempotent-replayed", b"true"), (b"content-length", str(len(body)).encode())]
    if record.content_type:
        headers.append((b"content-type", record.content_type.encode("latin-1")))
    assert record.status_code is not None
    await send({"type": "http.response.start", "status": record.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
