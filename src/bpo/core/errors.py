"""Errors the services raise; the API turns each into an RFC 9457 problem with a stable type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NotRequired, TypedDict

PROBLEM_BASE = "https://bpo-ops.dev/problems/"


class BpoError(Exception):
    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
        slug: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors or [])
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        if slug is not None:
            self.slug = slug  # type: ignore[misc]


class BadRequest(BpoError):
    pass


class Invalid(BpoError):
    status = 422
    slug = "validation-error"
    title = "Validation failed"


class Unauthorized(BpoError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class Forbidden(BpoError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"


class NotFound(BpoError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(BpoError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class TooManyRequests(BpoError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class Unavailable(BpoError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"


# What a caller is told when the database cannot be reached, and when to try again.
DATABASE_UNAVAILABLE = "The database is unavailable; retry shortly."
RETRY_LATER = {"Retry-After": "5"}


class FieldError(TypedDict):
    """One entry of a problem's ``errors``: the path of the bad field (``items[3].received_at``,
    ``rate_plan.charges[1].tiers[2].up_to``), what is wrong with it, and in a batch the item's index."""

    field: str
    message: str
    index: NotRequired[int]


FieldErrors = list[FieldError]


def field_error(field: str, message: str, *, index: int | None = None) -> FieldError:
    error = FieldError(field=field, message=message)
    if index is not None:
        error["index"] = index
    return error


def raise_if(errors: Sequence[FieldError], what: str | None = "Validation failed") -> None:
    """Raise one ``Invalid`` naming every field error, if there are any (after ``what``, when given)."""
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise Invalid(detail if what is None else f"{what}: {detail}", errors=errors)
