"""The operations surface that monitoring relies on (DESIGN §7): health, readiness, metrics, request ids,
and the OpenAPI document."""

from __future__ import annotations

import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.factories import create_tenant

REQUEST_COUNTER = "bpo_http_requests_total"


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_database_and_redis(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "database": "ok", "redis": "ok"}


def requests_counted(metrics_text: str, method: str, route: str, status: str) -> float:
    """The counter's value for one series, parsed as Prometheus would (0 when absent)."""
    wanted = {"method": method, "route": route, "status": status}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == REQUEST_COUNTER and sample.labels == wanted:
                assert family.type == "counter"
                return sample.value
    return 0.0


async def test_metrics_is_prometheus_text_that_counts_requests(client: httpx.AsyncClient) -> None:
    before = requests_counted((await client.get("/metrics")).text, "GET", "/health", "200")
    for _ in range(3):
        await client.get("/health")
    await client.get("/no/such/route")

    response = await client.get("/metrics")

    assert response.status_code == 200
    content_type = response.headers["content-type"]
    assert content_type.startswith("text/plain; version=")
    assert content_type.count("charset=") == 1
    assert re.search(r"^# TYPE bpo_http_requests(_total)? counter$", response.text, re.MULTILINE)
    assert requests_counted(response.text, "GET", "/health", "200") == before + 3
    # Unrouted requests are counted under one label, not one series per path.
    assert requests_counted(response.text, "GET", "unmatched", "404") >= 1
    assert "/no/such/route" not in response.text


async def test_metrics_label_routes_by_template_not_by_id(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    me = (await client.get("/v1/me", headers=tenant.admin)).json()["user"]
    assert (await client.get(f"/v1/users/{me['id']}", headers=tenant.admin)).status_code == 200

    text = (await client.get("/metrics")).text

    assert requests_counted(text, "GET", "/v1/users/{user_id}", "200") >= 1
    assert me["id"] not in text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health"),
        ("GET", "/no/such/route"),
        ("GET", "/v1/users"),
        ("PUT", "/health"),
        ("GET", "/metrics"),
    ],
)
async def test_every_response_carries_a_request_id(client: httpx.AsyncClient, method: str, path: str) -> None:
    first = await client.request(method, path)
    second = await client.request(method, path)

    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    if first.status_code >= 400:
        assert first.json()["request_id"] == first.headers["x-request-id"]


@pytest.mark.parametrize("path", ["/health", "/no/such/route", "/v1/users"])
async def test_a_valid_incoming_request_id_is_echoed(client: httpx.AsyncClient, path: str) -> None:
    request_id = "lb-7f3a.2026-11-24:0001_x"

    response = await client.get(path, headers={"X-Request-ID": request_id})

    assert response.headers["x-request-id"] == request_id
    if response.status_code >= 400:
        assert response.json()["request_id"] == request_id


@pytest.mark.parametrize(
    "request_id", [b"has spaces", b"x" * 129, b"new\\nline", b"<script>", b'quote"d', "ümlaut".encode()]
)
async def test_an_invalid_incoming_request_id_is_replaced(
    client: httpx.AsyncClient, request_id: bytes
) -> None:
    response = await client.get("/no/such/route", headers={b"X-Request-ID": request_id})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_the_openapi_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "BPO Ops API"
    assert {"/v1/auth/token", "/v1/users", "/v1/users/{user_id}", "/v1/api-keys"} <= document["paths"].keys()
    assert "post" in document["paths"]["/v1/auth/token"]
    assert {"get", "post"} <= document["paths"]["/v1/users"].keys()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # Monitoring endpoints are not part of the API contract for clients.
    assert "/metrics" not in document["paths"]


async def test_the_interactive_docs_are_html(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
    assert "openapi.json" in response.text
