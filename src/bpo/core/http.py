"""Shared parameter types for controllers."""

from __future__ import annotations

from typing import Annotated

from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.pagination import MAX_PAGE_SIZE
from bpo.tenancy.scope import Scope

# The request's transaction (tenant set) and the caller's scope, provided by the app.
Session = NamedDependency[AsyncSession]
Caller = NamedDependency[Scope]

Limit = Annotated[
    int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, description=f"Page size (at most {MAX_PAGE_SIZE}).")
]
Cursor = Annotated[str | None, QueryParameter(max_length=64, description="next_cursor of the previous page.")]
