"""``OPTIONS`` answers with every method of the path.

Litestar builds a path's OPTIONS handler when the path's first handler registers; a handler registered
later for the same path (a controller's PATCH beside its GET) joins the route but not that handler's
``Allow`` header. The header is rewritten here from the routes as finally assembled, counting as one
resource the paths that differ only in a parameter's name (``/v1/time-off/{time_off_id}`` for GET,
``/v1/time-off/{reference}`` for the custom-method POST).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Send
from litestar.types import Scope as ASGIScope

PATH_PARAMETER = re.compile(r"\{[^}]*\}")


def path_shape(path: str) -> str:
    """The path with its parameters unnamed: paths of one shape are one resource to a client."""
    return PATH_PARAMETER.sub("{}", path)


def methods_by_path(routes: list[Any]) -> dict[str, str]:
    methods: defaultdict[str, set[str]] = defaultdict(set)
    for route in routes:
        if isinstance(route, HTTPRoute):
            methods[path_shape(route.path_format)].update(route.methods)
    return {shape: ", ".join(sorted(names)) for shape, names in methods.items()}


class AllowHeaderMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        self.allow: dict[str, str] | None = None

    async def handle(self, scope: ASGIScope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope.get("method") != "OPTIONS":
            await next_app(scope, receive, send)
            return
        if self.allow is None:
            self.allow = methods_by_path(scope["litestar_app"].routes)
        allow = self.allow.get(path_shape(scope.get("path_template", "")))

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and allow is not None:
                headers = [(k, v) for k, v in message.get("headers", []) if bytes(k).lower() != b"allow"]
                message["headers"] = [*headers, (b"allow", allow.encode())]
            await send(message)

        await next_app(scope, receive, send_with_allow)
