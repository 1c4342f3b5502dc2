"""Every value a request carries has a range, and the OpenAPI document states it.

Walks every operation's JSON body and query parameters in the app's own document (so an operation added
later is covered without being listed): each string has a maximum length (or is an enum, a uuid, a date
or an instant), each array a maximum number of items, each number a maximum, each free-form object a
maximum number of properties. Bodies past a stated bound are refused with a 422 naming the field
(msgspec enforces the same constraints the document is generated from); a few are sent below.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.test_malformed import _resolve, operations
from tests.support.factories import create_tenant, onboard

BOUNDED_FORMATS = frozenset({"uuid", "date", "date-time", "time"})


def _kind(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return kinds[0] if len(kinds) == 1 else None
    return kind


def unbounded(schema: dict[str, Any], path: str, seen: set[tuple[str, str]] | None = None) -> list[str]:
    """The paths under ``schema`` whose values have no stated bound."""
    seen = set() if seen is None else seen
    if "$ref" in schema:
        key = (schema["$ref"], path)
        if key in seen:
            return []
        seen.add(key)
    resolved = _resolve(schema)
    found: list[str] = []
    # Constraints beside oneOf/anyOf apply to every alternative.
    outer = {k: v for k, v in resolved.items() if k not in ("oneOf", "anyOf", "type", "$ref")}
    for alternative in resolved.get("oneOf", []) + resolved.get("anyOf", []):
        found += unbounded(alternative if "$ref" in alternative else {**outer, **alternative}, path, seen)
    kind = _kind(resolved)
    if kind == "object":
        for name, sub in resolved.get("properties", {}).items():
            found += unbounded(sub, f"{path}.{name}", seen)
        extra = resolved.get("additionalProperties")
        if (extra is True or isinstance(extra, dict)) and "maxProperties" not in resolved:
            found.append(f"{path}: an object without maxProperties")
    elif kind == "array":
        if "maxItems" not in resolved:
            found.append(f"{path}: an array without maxItems")
        found += unbounded(resolved.get("items", {}), f"{path}[]", seen)
    elif kind == "string":
        if not (
            "maxLength" in resolved
            or "enum" in resolved
            or "const" in resolved
            or resolved.get("format") in BOUNDED_FORMATS
        ):
            found.append(f"{path}: a string without maxLength")
    elif kind in ("integer", "number") and "maximum" not in resolved and "exclusiveMaximum" not in resolved:
        found.append(f"{path}: a {kind} without maximum")
    return found


def test_every_request_value_has_a_stated_bound() -> None:
    found: list[str] = []
    walked = 0
    for key, operation in operations():
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            walked += 1
            found += unbounded(body["schema"], key)
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query":
                walked += 1
                found += unbounded(parameter.get("schema", {}), f"{key} ?{parameter['name']}")
    assert walked > 80, walked
    assert not found, "State a bound (msgspec.Meta / QueryParameter):\n" + "\n".join(found)


def test_the_walk_finds_unbounded_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}},
            "count": {"oneOf": [{"type": "integer"}, {"type": "null"}]},
            "code": {"type": "string", "maxLength": 8},
            "day": {"type": "string", "format": "date"},
        },
    }
    assert unbounded(schema, "x") == [
        "x.name: a string without maxLength",
        "x.tags: an array without maxItems",
        "x.count: a integer without maximum",
    ]


async def test_values_past_their_bounds_are_refused_with_the_field(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    world = await onboard(client, tenant)
    contract = world["contract"]["id"]
    window = {"days": ["mon"], "start": "9:00", "end": "18:00"}
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "/v1/calendars",
            {"code": "C1", "name": "c", "time_zone": "Asia/Tokyo", "windows": [window] * 101},
            "windows",
        ),
        (
            "/v1/calendars",
            {
                "code": "C2",
                "name": "c",
                "time_zone": "Asia/Tokyo",
                "windows": [{**window, "days": ["mon"] * 11}],
            },
            "windows[0].days",
        ),
        (
            "/v1/shifts",
            {
                "contract_id": contract,
                "start": "2027-01-04T00:00:00Z",
                "end": "2027-01-04T08:00:00Z",
                "skills": ["x" * 65],
            },
            "skills[0]",
        ),
        (
            "/v1/work-items:batch",
            {
                "contract_id": contract,
                "items": [
                    {
                        "external_id": "a",
                        "received_at": "2026-11-01T00:00:00Z",
                        "attributes": {f"k{i}": i for i in range(101)},
                    }
                ],
            },
            "items[0].attributes",
        ),
    ]
    for path, body, field in cases:
        response = await client.post(path, json=body, headers=tenant.admin)
        assert response.status_code == 422, (path, response.text)
        assert field in [error["field"] for error in response.json()["errors"]], (path, response.text)
