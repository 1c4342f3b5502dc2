"""Assertions on RFC 9457 problem responses."""

from __future__ import annotations

from typing import Any

import httpx

from bpo.core.errors import PROBLEM_BASE

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    """``response`` is an ``application/problem+json`` error with ``status`` (and type ``slug``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_BASE)
    if slug is not None:
        assert body["type"] == PROBLEM_BASE + slug, body
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def error_fields(body: dict[str, Any]) -> list[str]:
    return [error["field"] for error in body.get("errors", [])]
