"""Malformed input is a 4xx on every operation, and writes nothing.

Operations come from the app's own OpenAPI document, so one added later is covered without being
listed here; paths are filled and callers chosen from the isolation probes' ``ROUTES``. Each operation
that takes a body gets a body that is not UTF-8 (400), one nested past the limit (400), one with NUL
in strings at every depth (422), one sent as text/plain (415) and, where its schema has date-times,
one with instants that cannot be held in UTC (422); each with query parameters gets NUL in each
(422) and, for date and date-time parameters, values at the edge of what can be represented (422).
A write must leave what tenant A's admin reads unchanged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from bpo.app import create_app
from bpo.core.input_guard import MAX_DEPTH
from bpo.core.runtime import Runtime
from bpo.settings import load_settings
from bpo.web.session import SESSION_COOKIE
from tests.security.test_isolation import ROUTES, WRITES, Fill, Probe, _path, snapshot
from tests.security.world import World, build_world
from tests.support.factories import PLATFORM_HEADERS

PROBLEM = "application/problem+json"
# Instants an offset carries past what a datetime can hold once in UTC.
EDGE_INSTANTS = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")
EDGE_DATES = ("0001-01-01", "9999-12-31")


def _document() -> dict[str, Any]:
    app = create_app(load_settings(log_level="WARNING"))
    return app.openapi_schema.to_schema()


DOCUMENT = _document()


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = DOCUMENT["components"]["schemas"][name]
    return schema


def operations() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                yield f"{method.upper()} {path}", operation


BODY_OPERATIONS = sorted(
    key
    for key, operation in operations()
    if "application/json" in operation.get("requestBody", {}).get("content", {})
)
QUERY_OPERATIONS = sorted(
    key
    for key, operation in operations()
    if any(parameter.get("in") == "query" for parameter in operation.get("parameters", []))
)


def test_the_document_has_operations_of_both_kinds() -> None:
    assert len(BODY_OPERATIONS) > 30, BODY_OPERATIONS
    assert len(QUERY_OPERATIONS) > 20, QUERY_OPERATIONS
    assert all(key in ROUTES for key in BODY_OPERATIONS + QUERY_OPERATIONS)


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient, runtime: Runtime) -> World:
    return await build_world(client, runtime)


@pytest.fixture(scope="module")
async def http(server: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30, follow_redirects=False) as client:
        yield client


def _probe(key: str) -> Probe:
    entry = ROUTES[key]
    return entry if isinstance(entry, Probe) else Probe()


async def send(
    http: httpx.AsyncClient,
    world: World,
    key: str,
    *,
    params: dict[str, str] | None = None,
    content: bytes | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    method, template = key.split(" ", 1)
    probe = _probe(key)
    fill = Fill(world, real=True)
    headers = {"Content-Type": content_type} if content is not None else {}
    http.cookies.clear()
    if template.startswith("/v1/platform/"):
        headers.update(PLATFORM_HEADERS)
    elif probe.auth == "cookie":
        http.cookies.set(SESSION_COOKIE, world.caller("admin").token or "")
    elif template.startswith("/v1/"):
        headers.update(world.caller(probe.owner or "admin").headers)
    base = {k: fill.text(v) for k, v in probe.query.items()}
    return await http.request(
        method,
        _path(template, probe, fill),
        params={**base, **(params or {})},
        content=content,
        headers=headers,
    )


def _valid_body(key: str, world: World) -> Any:
    probe = _probe(key)
    return Fill(world, real=True).json(probe.body) if probe.body is not None else {}


def _with_nul(value: Any) -> Any:
    """Every string, at every depth, with NUL inside; and a nested list holding one."""
    if isinstance(value, str):
        return value + "\0x"
    if isinstance(value, list):
        return [_with_nul(item) for item in value] or ["\0"]
    if isinstance(value, dict):
        return {k: _with_nul(v) for k, v in value.items()} | {"note": {"deep": ["ok", "\0"]}}
    return value


def _date_time_fields(schema: dict[str, Any], value: Any, edge: str) -> tuple[Any, int]:
    """``value`` with each date-time field its schema names (at any depth) set to ``edge``."""
    schema = _resolve(schema)
    for alternative in schema.get("oneOf", []) + schema.get("anyOf", []):
        resolved = _resolve(alternative)
        if resolved.get("type") in ("object", "array") or resolved.get("format") == "date-time":
            schema = resolved
            break
    if schema.get("format") == "date-time":
        return edge, 1
    if isinstance(value, dict) and "properties" in schema:
        changed, count = dict(value), 0
        for name, sub in schema["properties"].items():
            sub_resolved = _resolve(sub)
            if name not in value and sub_resolved.get("format") != "date-time":
                continue
            changed[name], found = _date_time_fields(sub, value.get(name), edge)
            if not found and name not in value:
                del changed[name]
            count += found
        return changed, count
    if isinstance(value, list) and "items" in schema:
        pairs = [_date_time_fields(schema["items"], item, edge) for item in value]
        return [item for item, _ in pairs], sum(found for _, found in pairs)
    return value, 0


def _problem(response: httpx.Response, status: int, key: str, case: str) -> str | None:
    if response.status_code != status or not response.headers.get("content-type", "").startswith(PROBLEM):
        return f"{key} {case}: {response.status_code} {response.text[:300]}"
    return None


@pytest.mark.parametrize("key", BODY_OPERATIONS)
async def test_malformed_bodies_are_refused(key: str, http: httpx.AsyncClient, world: World) -> None:
    method = key.split(" ", 1)[0]
    before = await snapshot(http, world) if method in WRITES else None
    valid = json.dumps(_valid_body(key, world)).encode()
    deep = b'{"a":' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}"
    cases = {
        "not UTF-8": (valid[:-1] + b', "z": "\xff\xfe"}' if valid.endswith(b"}") else b'"\xff"', 400),
        "nested too deep": (deep, 400),
        "NUL in strings": (json.dumps(_with_nul(_valid_body(key, world))).encode(), 422),
    }
    failures = []
    for case, (content, status) in cases.items():
        response = await send(http, world, key, content=content)
        failures.append(_problem(response, status, key, case))
    response = await send(http, world, key, content=valid, content_type="text/plain")
    failures.append(_problem(response, 415, key, "text/plain"))
    schema = DOCUMENT["paths"][key.split(" ", 1)[1]][method.lower()]["requestBody"]["content"][
        "application/json"
    ]
    for edge in EDGE_INSTANTS:
        body, found = _date_time_fields(schema["schema"], _valid_body(key, world), edge)
        if found:
            response = await send(http, world, key, content=json.dumps(body).encode())
            failures.append(_problem(response, 422, key, f"instant {edge}"))
    documented = DOCUMENT["paths"][key.split(" ", 1)[1]][method.lower()]["responses"]
    failures += [
        f"{key}: {status} is not documented" for status in ("400", "415", "422") if status not in documented
    ]
    problems = [failure for failure in failures if failure]
    assert not problems, "\n".join(problems)
    if before is not None:
        assert await snapshot(http, world) == before, f"{key}: a malformed request changed tenant A's data"


@pytest.mark.parametrize("key", QUERY_OPERATIONS)
async def test_malformed_query_parameters_are_refused(
    key: str, http: httpx.AsyncClient, world: World
) -> None:
    method, path = key.split(" ", 1)
    parameters = [p for p in DOCUMENT["paths"][path][method.lower()]["parameters"] if p["in"] == "query"]
    body = json.dumps(_valid_body(key, world)).encode() if method in {"POST", "PUT", "PATCH"} else None
    failures = []
    for parameter in parameters:
        name = parameter["name"]
        response = await send(http, world, key, params={name: "a\0b"}, content=body)
        failures.append(_problem(response, 422, key, f"NUL in {name}"))
        schema = _resolve(parameter.get("schema", {}))
        formats = {
            _resolve(s).get("format") for s in [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]
        }
        edges = EDGE_INSTANTS if "date-time" in formats else EDGE_DATES if "date" in formats else ()
        for edge in edges:
            response = await send(http, world, key, params={name: edge}, content=body)
            if response.status_code >= 500 or not 400 <= response.status_code < 500:
                failures.append(f"{key} {name}={edge}: {response.status_code} {response.text[:300]}")
    problems = [failure for failure in failures if failure]
    assert not problems, "\n".join(problems)
