"""Malformed input stops before any handler runs, with a 4xx naming what is wrong.

- A query string carrying the NUL character (``%00``) is a 422 naming the parameters: PostgreSQL text
  cannot hold it.
- A body sent to an operation that takes one must be of its media type (JSON, or a form for the
  dashboard's sign-in): another ``Content-Type`` is a 415.
- A JSON body nested deeper than ``MAX_DEPTH`` arrays and objects is a 400; one holding NUL in any
  string, at any depth, is a 422 naming each field.
- A body that is not UTF-8 is a 400 (``core.problems``: the decoder's own error, at no cost to valid
  bodies).

Valid input pays little: the query check is a substring search, the NUL check one over the body, and
the depth is only worked out for bodies with more than ``MAX_DEPTH`` opening brackets in all.
"""

from __future__ import annotations

import re
from typing import Any, cast
from urllib.parse import parse_qsl

import msgspec
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import ClientException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Send
from litestar.types import Scope as ASGIScope

from bpo.core.errors import BpoError, FieldErrors, field_error, raise_if

# Arrays and objects inside one another; no request body of the API comes near it.
MAX_DEPTH = 32
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NUL_MESSAGE = "may not contain the NUL character (\\u0000)"

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NUL_ESCAPE = b"\\u0000"


class MalformedBody(BpoError):
    slug = "malformed-request"
    title = "Malformed request body"


class UnsupportedMediaType(BpoError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, buffered: the app's body limit applies here too."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Any = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ClientException(status_code=413, detail="The request body is too large.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def replaying(body: bytes) -> Receive:
    """A ``receive`` that hands ``body`` on once, as one message."""
    remaining = body

    async def receive() -> Any:
        nonlocal remaining
        chunk, remaining = remaining, b""
        return {"type": "http.request", "body": chunk, "more_body": False}

    return receive


def nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether the JSON ``body`` has arrays and objects more than ``limit`` deep (brackets inside strings
    aside). A body that is not JSON is left to the decoder."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    if b"\\" in body:
        body = _ESCAPE.sub(b"", body)
    # Outside strings: every other piece between quotes.
    skeleton = b"".join(body.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        inner = skeleton.replace(b"[]", b"").replace(b"{}", b"")
        if not inner or len(inner) == len(skeleton):
            return False
        skeleton = inner
    return True


def _has_nul_escape(body: bytes) -> bool:
    at = body.find(_NUL_ESCAPE)
    while at != -1:
        # An escape when preceded by an even number of backslashes (``\\u0000`` is a backslash and text).
        start = at
        while start > 0 and body[start - 1] == ord("\\"):
            start -= 1
        if (at - start) % 2 == 0:
            return True
        at = body.find(_NUL_ESCAPE, at + 1)
    return False


def nul_paths(value: Any, path: str = "") -> list[str]:
    """The path of every string, or object key, holding NUL in a decoded JSON value."""
    found: list[str] = []
    if isinstance(value, str):
        if "\0" in value:
            found.append(path or "body")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += nul_paths(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if "\0" in key:
                found.append(name)
            found += nul_paths(item, name)
    return found


def _query_errors(query: bytes) -> FieldErrors:
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    names = sorted({name for name, value in pairs if "\0" in name + value})
    return [field_error(f"query.{name.replace(chr(0), '')}", NUL_MESSAGE) for name in names] or [
        field_error("query", NUL_MESSAGE)
    ]


def _content_type(scope: dict[str, Any]) -> str | None:
    for key, value in scope["headers"]:
        if key == b"content-type":
            return str(value.decode("latin-1")).split(";", 1)[0].strip().lower()
    return None


JSON = RequestEncodingType.JSON.value


def _accepts(media: str, content_type: str) -> bool:
    if media == JSON:
        return content_type == JSON or (
            content_type.startswith("application/") and content_type.endswith("+json")
        )
    return content_type == media


_MEDIA: dict[Any, str | None] = {}


def _body_media(handler: Any) -> str | None:
    """The media type of the handler's body parameter (``data``), or None when it takes none."""
    if handler not in _MEDIA:
        parameter = handler.parsed_fn_signature.parameters.get("data") if handler is not None else None
        media = getattr(parameter.kwarg_definition, "media_type", None) if parameter is not None else None
        _MEDIA[handler] = None if parameter is None else str(getattr(media, "value", media or JSON))
    return _MEDIA[handler]


class InputGuardMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: ASGIScope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        http = cast("dict[str, Any]", scope)
        query: bytes = http.get("query_string", b"")
        if b"%00" in query or b"\0" in query:
            raise_if(_query_errors(query), what=None)
        media = _body_media(http.get("route_handler")) if http["method"] in BODY_METHODS else None
        if media is None:
            await next_app(scope, receive, send)
            return
        content_type = _content_type(http)
        if content_type is not None and not _accepts(media, content_type):
            raise UnsupportedMediaType(
                f"This operation takes {media} (Content-Type: {media}), not {content_type}.",
                errors=[field_error("header.Content-Type", f"must be {media}")],
            )
        if media != JSON:
            await next_app(scope, receive, send)
            return
        body = await read_body(receive, http["litestar_app"].state.runtime.settings.max_body_bytes)
        if nested_deeper_than(body, MAX_DEPTH):
            raise MalformedBody(f"The request body nests arrays and objects more than {MAX_DEPTH} deep.")
        if _has_nul_escape(body):
            _refuse_nul(body)
        await next_app(scope, replaying(body), send)


def _refuse_nul(body: bytes) -> None:
    try:
        paths = nul_paths(msgspec.json.decode(body))
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return  # not JSON after all: the decoder says so
    raise_if([field_error(path, NUL_MESSAGE) for path in paths], what=None)
