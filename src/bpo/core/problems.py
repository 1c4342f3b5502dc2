"""RFC 9457 ``application/problem+json`` for every 4xx and 5xx the API returns."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bpo.core.errors import (
    DATABASE_UNAVAILABLE,
    PROBLEM_BASE,
    RETRY_LATER,
    BpoError,
    FieldErrors,
    field_error,
)
from bpo.core.validation import ERROR_LIMIT, find_mistakes

PROBLEM_JSON = "application/problem+json"

log = structlog.get_logger("bpo.errors")


class FieldError(msgspec.Struct, omit_defaults=True):
    field: str
    message: str
    index: int | None = None


class Problem(msgspec.Struct, omit_defaults=True):
    """An error response (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None
    # Field errors past the limit (core.validation.ERROR_LIMIT), counted but not listed.
    errors_omitted: int | None = None


_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    slug: str,
    title: str | None = None,
    detail: str,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    errors_omitted: int = 0,
) -> Response[bytes]:
    listed = list(errors or [])
    # At most ERROR_LIMIT field errors, as the schema says; the rest are counted.
    errors_omitted += max(0, len(listed) - ERROR_LIMIT)
    body = Problem(
        type=PROBLEM_BASE + slug,
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=request.scope.get("state", {}).get("request_id"),
        errors=[_field_error(e) for e in listed[:ERROR_LIMIT]] or None,
        errors_omitted=errors_omitted or None,
    )
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def _field_error(error: Mapping[str, Any]) -> FieldError:
    return FieldError(
        field=str(error.get("field", "")), message=str(error.get("message", "")), index=error.get("index")
    )


# msgspec reports these at the enclosing object; the field they name is the offending one.
_NAMED_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<name>[^`]+)`$")
# Litestar names the body parameter ``data``; an absent body surfaces as a missing ``data``.
_BODY = "data"


# How msgspec says a body is not JSON at all.
_UNDECODABLE = ("JSON is malformed", "Input data was truncated", "Malformed")

# A mistake inside a batch's item names the item's index too.
_BATCH_ITEM = re.compile(r"^(?:items|events)\[(?P<index>\d+)\]")


def _body_errors(request: Request[Any, Any, Any]) -> tuple[FieldErrors, int] | None:
    """Every mistake in the request body, not only the first msgspec met: the JSON already read is
    converted again, piece by piece, to the handler's body type (as leniently as Litestar does)."""
    state = ScopeState.from_scope(request.scope)
    raw = state.json
    if raw is Empty and isinstance(state.body, bytes):
        # A body decoded straight into its type (a DTO) was never read as plain JSON.
        try:
            raw = msgspec.json.decode(state.body)
        except msgspec.DecodeError:
            return None
    parameter = request.route_handler.parsed_fn_signature.parameters.get(_BODY)
    if raw is Empty or raw is None or parameter is None:
        return None
    body_type = parameter.annotation
    mistakes, omitted = find_mistakes(raw, body_type, strict=False)
    errors: FieldErrors = []
    for mistake in mistakes:
        item = _BATCH_ITEM.match(mistake.path)
        index = int(item["index"]) if item else None
        errors.append(field_error(mistake.path or "body", mistake.message, index=index))
    return (errors, omitted) if errors else None


def _validation_errors(request: Request[Any, Any, Any], exc: ValidationException) -> tuple[FieldErrors, int]:
    """The field errors of a failed validation, and how many more were left out."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors: FieldErrors = []
    body: FieldErrors = []
    for item in extra:
        if not isinstance(item, Mapping):
            continue
        key = item.get("key") or ""
        # Litestar gives the source as a ParamType (a str enum), which an f-string renders as its name.
        source = getattr(item.get("source"), "value", item.get("source"))
        message = str(item.get("message", ""))
        if key == _BODY and message == repr(_BODY):
            errors.append(field_error("body", "a JSON request body is required"))
            continue
        named = _NAMED_FIELD.match(message)
        if named and source == "body":
            key = named["name"] if key == _BODY else f"{key}.{named['name']}"
        elif key == _BODY:
            key = ""
        field = f"{source}.{key}" if source and source != "body" and key else key
        (body if source == "body" else errors).append(field_error(field or (source or "body"), message))
    if not body:
        return errors, 0
    # msgspec names only the body's first mistake; look for all of them.
    every = _body_errors(request)
    if every is None:
        return errors + body, 0
    return errors + every[0], every[1]


def handle_bpo_error(request: Request[Any, Any, Any], exc: BpoError) -> Response[bytes]:
    return problem_response(
        request,
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
    )


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if isinstance(exc, ValidationException):
        errors, omitted = _validation_errors(request, exc)
        # The decoder's own words, at the start of a message: a query value echoed back ("…?x=malformed")
        # must not make a 422 look like an undecodable body.
        malformed = any(e["message"].startswith(_UNDECODABLE) for e in errors) or str(exc.detail).startswith(
            _UNDECODABLE
        )
        if malformed:
            return problem_response(
                request,
                status=400,
                slug="malformed-request",
                title="Malformed request body",
                detail="The request body is not valid JSON.",
                errors=errors,
            )
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or str(exc.detail)
        if omitted:
            detail += f"; and {omitted} more"
        return problem_response(
            request,
            status=422,
            slug="validation-error",
            title="Validation failed",
            detail=detail,
            errors=errors,
            errors_omitted=omitted,
        )
    if status == 400 and isinstance(exc.__cause__, SerializationException):
        # Litestar turns an undecodable body into a bare 400; say what it is.
        return problem_response(
            request,
            status=400,
            slug="malformed-request",
            title="Malformed request body",
            detail=f"The request body is not valid JSON: {exc.detail}.",
        )
    if status >= 500:
        log.error("http_error", status=status, error=type(exc).__name__, detail=str(exc.detail))
    slug = _HTTP_SLUGS.get(status, "error")
    detail = str(exc.detail) if exc.detail else HTTPStatus(status).phrase
    if status == 404 and detail == "Not Found":
        detail = f"No resource at {request.url.path}."
    return problem_response(request, status=status, slug=slug, detail=detail, headers=headers)


def handle_undecodable(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[bytes]:
    """The JSON decoder's own check of UTF-8 (so valid bodies pay nothing more for it)."""
    return problem_response(
        request,
        status=400,
        slug="malformed-request",
        title="Malformed request body",
        detail=f"The request is not valid UTF-8 (byte {exc.start}).",
    )


def handle_database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.warning("database_unavailable", error=type(exc).__name__)
    return problem_response(
        request,
        status=503,
        slug="unavailable",
        detail=DATABASE_UNAVAILABLE,
        headers=RETRY_LATER,
    )


def _lost_connection(exc: BaseException, depth: int = 0) -> bool:
    """The error, or what it came from, or (an error group from a dependency's cleanup, such as the
    session's rollback after the server went away) one of its members, is the database connection lost."""
    if depth > 4:
        return False
    if isinstance(exc, BaseExceptionGroup):
        return any(_lost_connection(member, depth + 1) for member in exc.exceptions)
    if _is_connection_problem(exc):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and _lost_connection(cause, depth + 1)


def _is_connection_problem(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout | InterfaceError | ConnectionError | OSError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    name = type(getattr(exc, "orig", None) or exc).__name__
    return name in {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "AdminShutdownError",
        "TooManyConnectionsError",
        # The driver lost track of the protocol's state when the server went away mid-operation.
        "InternalClientError",
    }


# PostgreSQL text cannot hold U+0000, which JSON and query strings can carry; the database refuses it.
_NUL_IN_TEXT = "22021"


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if _lost_connection(exc):
        return handle_database_unavailable(request, exc)
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == _NUL_IN_TEXT:
        return problem_response(
            request,
            status=422,
            slug="validation-error",
            title="Validation failed",
            detail="Text may not contain the NUL character (\\u0000).",
        )
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        # Login rate limits live in Redis; without them a login must not go ahead unchecked.
        log.warning("redis_unavailable", error=type(exc).__name__)
        return problem_response(
            request,
            status=503,
            slug="unavailable",
            detail="A backing service is unavailable; retry shortly.",
            headers={"Retry-After": "5"},
        )
    log.exception("unhandled_error", error=type(exc).__name__)
    return problem_response(
        request,
        status=500,
        slug="internal-error",
        detail="An unexpected error occurred; it has been logged with this request's id.",
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    BpoError: handle_bpo_error,
    HTTPException: handle_http_exception,
    UnicodeDecodeError: handle_undecodable,
    Exception: handle_unexpected,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "Problem", "problem_response"]
