"""Where webhooks may go (``bpo.delivery.destinations``): numeric hosts read as resolvers read them, names
judged by what they resolve to, one policy when an endpoint's URL is set (a 422 naming ``url``) and before
every attempt (the reason in the delivery log), and each attempt sent to the address it checked."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.delivery import destinations, webhooks
from bpo.delivery.destinations import Refused, Resolve, check_destination, parse_ipv4
from bpo.delivery.webhooks import DeliveryPolicy, NewEvent
from bpo.settings import Settings
from tests.support.factories import TenantHandle, create_tenant, post_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.receiver import Receiver
from tests.support.server import ServerThread

# (URL, on this machine: accepted outside production, for local receivers)
BAD_URLS: list[tuple[str, bool]] = [
    # 127.0.0.1 spelt as resolvers and inet_aton read it
    ("http://2130706433/hook", True),
    ("http://0x7f000001/hook", True),
    ("http://0x7f.1/hook", True),
    ("http://017700000001/hook", True),
    ("http://127.1/hook", True),
    ("http://127.0.0.1./hook", True),
    ("http://[::ffff:127.0.0.1]/hook", True),
    ("https://[::1]/hook", True),
    ("http://localhost:8080/hook", True),
    ("https://LocalHost./hook", True),
    ("https://hooks.localhost/hook", True),
    # never a receiver, wherever the server runs
    ("http://0177.0.0.1/hook", False),
    ("http://0.0.0.0/hook", False),
    ("https://0/hook", False),
    ("https://[::]/hook", False),
    ("https://169.254.169.254/latest/meta-data/", False),
    ("https://2852039166/latest/meta-data/", False),
    ("https://0xa9fea9fe/latest/meta-data/", False),
    ("https://169.254.43518/latest/meta-data/", False),
    ("https://[::ffff:169.254.169.254]/latest/meta-data/", False),
    ("https://[::ffff:a9fe:a9fe]/latest/meta-data/", False),
    ("https://[64:ff9b::a9fe:a9fe]/latest/meta-data/", False),
    ("https://[2002:a9fe:a9fe::]/latest/meta-data/", False),
    ("https://[fd00:ec2::254]/latest/meta-data/", False),
    ("https://100.100.100.200/latest/meta-data/", False),
    ("https://metadata.google.internal/computeMetadata/v1/", False),
    ("https://METADATA.google.internal./computeMetadata/v1/", False),
    ("https://metadata.goog/computeMetadata/v1/", False),
    ("https://metadata/computeMetadata/v1/", False),
    ("https://instance-data/latest/meta-data/", False),
    ("https://[fd00::1]/hook", False),
    ("https://[fe80::1]/hook", False),
    ("https://[fec0::1]/hook", False),
    ("https://[::10.0.0.1]/hook", False),
    ("https://[ff02::1]/hook", False),
    ("https://10.1.2.3/hook", False),
    ("https://167772161/hook", False),
    ("https://10.1/hook", False),
    ("https://172.16.0.1/hook", False),
    ("https://192.168.1/hook", False),
    ("https://100.64.0.1/hook", False),
    ("https://198.18.0.1/hook", False),
    ("https://224.0.0.1/hook", False),
    ("https://255.255.255.255/hook", False),
    ("https://printer.local/hook", False),
    ("https://vault.internal/hook", False),
    ("https://router.home.arpa/hook", False),
    ("https://intranet/hook", False),
    ("https://hooks.example.123/hook", False),
    ("https://1.2.3.4.5/hook", False),
    ("https://%31%32%37.0.0.1/hook", False),
    ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/hook", False),  # fullwidth digits
    ("https://hooks.example.com\\@127.0.0.1/hook", False),
    ("https://user:pw@hooks.example.com/hook", False),
    ("http://hooks.example.com/hook", False),
    ("ftp://hooks.example.com/hook", False),
    ("hooks.example.com/hook", False),
    ("https:///hook", False),
    ("https://hooks.example.com:99999/hook", False),
]
GOOD_URLS = [
    "https://hooks.example.com/bpo?x=1",
    "https://HOOKS.example.com./bpo",
    "https://93.184.215.14:8443/in",
    "https://[2606:2800:220:1::1]/in",
    "https://bücher.example/hook",
]


def resolving(table: dict[str, Sequence[str]], *, delay_s: float = 0.0) -> Resolve:
    """A resolver that knows only ``table``: anything else is an unknown name."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(delay_s)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


# --- pure: numeric hosts and resolved names ------------------------------------------------------

PART = st.one_of(
    st.integers(0, 255).map(str),
    st.integers(0, 2**33).map(str),
    st.integers(0, 2**33).map(lambda n: "0" + format(n, "o")),
    st.integers(0, 2**33).map(lambda n: "0x" + format(n, "x")),
    st.integers(0, 2**33).map(lambda n: "0X" + format(n, "X")),
    st.from_regex(r"0[0-9]{1,4}|0x|00+[1-9]", fullmatch=True),
)


@given(st.lists(PART, min_size=1, max_size=5))
def test_numeric_hosts_mean_what_inet_aton_makes_of_them(parts: list[str]) -> None:
    host = ".".join(parts)
    try:
        expected = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        with pytest.raises(ValueError, match="not an IPv4 address"):
            parse_ipv4(host)
    else:
        assert parse_ipv4(host) == expected


@pytest.mark.parametrize("host", ["hooks.example.com", "1e100.net", "example", "a.0x7g"])
def test_names_are_not_numbers(host: str) -> None:
    assert parse_ipv4(host) is None


@pytest.mark.parametrize(("url", "on_this_machine"), BAD_URLS)
@pytest.mark.parametrize("must_resolve", [False, True])
async def test_the_policy_refuses_every_spelling_of_an_internal_host(
    url: str, on_this_machine: bool, must_resolve: bool
) -> None:
    with pytest.raises(Refused):
        await check_destination(url, allow_local=False, must_resolve=must_resolve, resolve=resolving({}))
    if not on_this_machine:
        with pytest.raises(Refused):
            await check_destination(url, allow_local=True, must_resolve=False, resolve=resolving({}))


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (["10.0.0.5"], "inside.example.com resolves to 10.0.0.5, a non-public address"),
        (["93.184.215.14", "10.0.0.5"], "inside.example.com resolves to 10.0.0.5, a non-public address"),
        (["169.254.169.254"], "inside.example.com resolves to 169.254.169.254, a non-public address"),
        (["::ffff:169.254.169.254"], "inside.example.com resolves to ::ffff:a9fe:a9fe, a non-public address"),
        (["fd00::1"], "inside.example.com resolves to fd00::1, a non-public address"),
        (["127.0.0.1"], "inside.example.com resolves to 127.0.0.1, an address on this machine"),
        (["::1"], "inside.example.com resolves to ::1, an address on this machine"),
        (["0.0.0.0"], "inside.example.com resolves to 0.0.0.0, an address on this machine"),
    ],
)
@pytest.mark.parametrize("must_resolve", [False, True])
async def test_a_name_is_refused_when_any_of_its_addresses_is_internal(
    answers: list[str], reason: str, must_resolve: bool
) -> None:
    resolve = resolving({"inside.example.com": answers})
    with pytest.raises(Refused) as refused:
        await check_destination(
            "https://inside.example.com/hook", allow_local=False, must_resolve=must_resolve, resolve=resolve
        )
    assert refused.value.reason == reason


async def test_a_public_name_is_sent_to_its_checked_addresses_under_its_own_name() -> None:
    resolve = resolving({"hooks.example.com": ["93.184.215.14", "2606:2800:220:1::1", "93.184.215.14"]})
    destination = await check_destination(
        "https://Hooks.Example.com.:8443/bpo?x=1", allow_local=False, must_resolve=True, resolve=resolve
    )
    assert [str(a) for a in destination.addresses] == ["93.184.215.14", "2606:2800:220:1::1"]
    assert str(destination.via(destination.addresses[1])) == "https://[2606:2800:220:1::1]:8443/bpo?x=1"
    assert destination.extensions == {"sni_hostname": "hooks.example.com"}
    assert destination.host_header.lower() == "hooks.example.com.:8443"


async def test_a_name_that_does_not_resolve_passes_at_creation_and_fails_at_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "https://not-yet.example.com/hook"
    created = await check_destination(url, allow_local=False, must_resolve=False, resolve=resolving({}))
    assert created.addresses == ()
    with pytest.raises(Refused, match=r"^cannot resolve not-yet\.example\.com: .*not known"):
        await check_destination(url, allow_local=False, must_resolve=True, resolve=resolving({}))
    monkeypatch.setattr(destinations, "RESOLVE_TIMEOUT_S", 0.05)
    slow = resolving({"not-yet.example.com": ["93.184.215.14"]}, delay_s=1.0)
    with pytest.raises(Refused, match=r"^cannot resolve not-yet\.example\.com: timed out$"):
        await check_destination(url, allow_local=False, must_resolve=True, resolve=slow)


# --- through the API --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def production_server(settings: Settings) -> Iterator[ServerThread]:
    """The app as production runs it: no receivers on this machine."""
    with ServerThread(settings.model_copy(update={"environment": "production"})) as running:
        yield running


@pytest.fixture
async def production(production_server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=production_server.url, timeout=30) as http:
        yield http


async def refused_urls(http: httpx.AsyncClient, tenant: TenantHandle, urls: Sequence[str]) -> list[str]:
    """The URLs of ``urls`` that creating an endpoint refuses, each with a 422 naming ``url``."""
    refused = []
    for url in urls:
        response = await http.post(
            "/v1/webhook-endpoints", json={"url": url, "event_types": ["sla.breached"]}, headers=tenant.admin
        )
        if response.status_code == 201:
            continue
        problem = assert_problem(response, 422, "validation-error")
        assert error_fields(problem) == ["url"], (url, problem)
        refused.append(url)
    return refused


async def test_production_refuses_every_internal_destination_at_creation(
    production: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(production)
    bad = [url for url, _ in BAD_URLS]

    assert await refused_urls(production, tenant, bad) == bad
    assert await refused_urls(production, tenant, GOOD_URLS) == []
    listed = (await production.get("/v1/webhook-endpoints", headers=tenant.admin)).json()["items"]
    assert sorted(e["url"] for e in listed) == sorted(GOOD_URLS)

    endpoint = listed[0]["id"]
    for url in bad:
        response = await production.patch(
            f"/v1/webhook-endpoints/{endpoint}", json={"url": url}, headers=tenant.admin
        )
        assert error_fields(assert_problem(response, 422)) == ["url"], url
    fetched = (await production.get(f"/v1/webhook-endpoints/{endpoint}", headers=tenant.admin)).json()
    assert fetched["url"] == listed[0]["url"]


async def test_outside_production_only_receivers_on_this_machine_are_let_through(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)

    refused = await refused_urls(client, tenant, [url for url, _ in BAD_URLS])

    assert refused == [url for url, on_this_machine in BAD_URLS if not on_this_machine]


# --- at delivery ------------------------------------------------------------------------------


async def endpoint_with_delivery(
    http: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle, url: str
) -> tuple[str, str]:
    """An endpoint at ``url`` (created through the API) and its delivery of a new event (which the tenant's
    other endpoints get too)."""
    endpoint = await post_ok(
        http, "/v1/webhook-endpoints", {"url": url, "event_types": ["sla.breached"]}, tenant.admin
    )
    async with runtime.db.tenant(tenant.id) as session:
        event = NewEvent(type="sla.breached", data={"n": uuid.uuid4().hex})
        assert await webhooks.emit(session, tenant.id, [event])
    deliveries = await delivery_log(http, tenant, endpoint["id"])
    return endpoint["id"], deliveries[0]["id"]


async def delivery_log(
    http: httpx.AsyncClient, tenant: TenantHandle, endpoint_id: str
) -> list[dict[str, Any]]:
    response = await http.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=tenant.admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def attempt(
    runtime: Runtime, tenant: TenantHandle, delivery_id: str, now: datetime, **policy: Any
) -> str | None:
    async with runtime.db.tenant(tenant.id) as session:
        return await webhooks.deliver(
            session,
            system_scope(tenant.id),
            uuid.UUID(delivery_id),
            now=now,
            policy=DeliveryPolicy(jitter=lambda: 0.0, **policy),
        )


async def test_a_name_that_turns_internal_after_creation_is_refused_at_delivery(
    production: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(production)
    endpoint_id, delivery_id = await endpoint_with_delivery(
        production, runtime, tenant, "https://rebind.example.com/hook"
    )
    now = datetime.now(UTC)
    loopback = resolving({"rebind.example.com": ["127.0.0.1"]})

    assert await attempt(runtime, tenant, delivery_id, now, resolve=loopback) == "pending"

    (logged,) = await delivery_log(production, tenant, endpoint_id)
    assert (logged["attempts"], logged["last_status_code"]) == (1, None)
    assert logged["last_error"] == "rebind.example.com resolves to 127.0.0.1, an address on this machine"

    later = now + webhooks.RETRY_SCHEDULE[0]
    mixed = resolving({"rebind.example.com": ["93.184.215.14", "10.0.0.7"]})
    assert await attempt(runtime, tenant, delivery_id, later, resolve=mixed) == "pending"
    (logged,) = await delivery_log(production, tenant, endpoint_id)
    assert (logged["attempts"], logged["last_status_code"]) == (2, None)
    assert logged["last_error"] == "rebind.example.com resolves to 10.0.0.7, a non-public address"


async def test_localhost_receives_outside_production_and_is_refused_in_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    with Receiver() as receiver:
        url = f"http://localhost:{receiver.port}/hooks/bpo"
        _, delivery_id = await endpoint_with_delivery(client, runtime, tenant, url)
        assert await attempt(runtime, tenant, delivery_id, datetime.now(UTC), allow_local=True) == "succeeded"
        (request,) = receiver.received()
        assert request.headers["host"] == f"localhost:{receiver.port}"

        second_endpoint, second = await endpoint_with_delivery(client, runtime, tenant, url)
        assert await attempt(runtime, tenant, second, datetime.now(UTC), allow_local=False) == "pending"
        assert len(receiver.received()) == 1
    (logged,) = await delivery_log(client, tenant, second_endpoint)
    assert (logged["last_error"], logged["last_status_code"]) == ("must not point at this machine", None)


async def test_an_attempt_connects_to_the_address_it_checked(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """The receiver listens on 127.0.0.2 only; the name is known to the attempt's resolver alone. Were the
    name looked up again when connecting, the request would go elsewhere (or nowhere)."""
    tenant = await create_tenant(client)
    with Receiver(host="127.0.0.2") as receiver:
        url = f"http://receiver.localhost:{receiver.port}/hooks/bpo"
        endpoint_id, delivery_id = await endpoint_with_delivery(client, runtime, tenant, url)
        # The first address takes no connection: the next one is tried.
        resolve = resolving({"receiver.localhost": ["127.0.0.3", "127.0.0.2"]})
        status = await attempt(
            runtime, tenant, delivery_id, datetime.now(UTC), allow_local=True, resolve=resolve
        )
        assert status == "succeeded", await delivery_log(client, tenant, endpoint_id)
        (request,) = receiver.received()
    assert request.headers["host"] == f"receiver.localhost:{receiver.port}"
    assert request.path == "/hooks/bpo"


async def test_an_attempt_outside_production_still_refuses_internal_addresses(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    endpoint_id, delivery_id = await endpoint_with_delivery(
        client, runtime, tenant, "https://hooks.example.com/bpo"
    )
    resolve = resolving({"hooks.example.com": ["192.168.0.10"]})
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert await attempt(runtime, tenant, delivery_id, now, allow_local=True, resolve=resolve) == "pending"
    (logged,) = await delivery_log(client, tenant, endpoint_id)
    assert logged["last_error"] == "hooks.example.com resolves to 192.168.0.10, a non-public address"
