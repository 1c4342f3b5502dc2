"""Where webhooks may be sent: one policy, applied when an endpoint's URL is set and again before every
attempt (``check_destination``).

A destination is an http(s) URL without credentials whose host is a public name or a public address.
Numeric hosts are read the way resolvers read them (``inet_aton``: ``2130706433``, ``0x7f000001``,
``0177.0.0.1`` and ``127.1`` all mean 127.0.0.1, and so does ``[::ffff:127.0.0.1]``); names are resolved,
and every address a name resolves to must be public. Refused: loopback and unspecified addresses (this
machine), private, shared, link-local (cloud metadata at 169.254.169.254), reserved and multicast
addresses, IPv6 forms that embed one of those, cloud metadata host names, and names that only resolve
inside a network (a single label, ``.internal``, ``.local``…). With ``allow_local`` (outside production)
receivers on this machine are accepted, over http too: 127.0.0.1, ``[::1]``, ``localhost``.

When an endpoint is created, a name that does not resolve (yet) is accepted; when a delivery is made, it
is a failed attempt. A delivery connects to the addresses it has just checked and never looks the name up
again, so the name cannot point somewhere else between the check and the connection (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# A host name and port to the address texts they resolve to; OSError when they do not resolve.
Resolve = Callable[[str, int], Awaitable[Sequence[str]]]

RESOLVE_TIMEOUT_S = 5.0
ON_THIS_MACHINE = "must not point at this machine"
NOT_PUBLIC = "must not be a private, link-local or reserved address"
HTTPS_ONLY = "must use https (http is accepted only for 127.0.0.1 and localhost outside production)"
NOT_A_PUBLIC_NAME = "must be a public host name"
METADATA = "must not be a cloud metadata host"
LOCAL_NAMES = ("localhost",)
# Cloud instance metadata services by name (their addresses are link-local or private, refused anyway).
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.goog",
        "metadata.google.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
# Suffixes that name hosts inside a network and are never delegated on the internet: mDNS (RFC 6762),
# home networks (RFC 8375), ICANN's private-use .internal, and names routers and intranets commonly use.
PRIVATE_SUFFIXES = ("local", "localdomain", "internal", "intranet", "lan", "home", "corp", "home.arpa")

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_ENDS_IN_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_OCTAL = re.compile(r"0[0-7]*")
_DECIMAL = re.compile(r"[1-9][0-9]*")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Destination:
    """A URL that passed the policy and the addresses it was checked against: the one its host is, or
    those its name resolved to (none when the name did not resolve and ``must_resolve`` was off)."""

    url: httpx.URL
    addresses: tuple[Address, ...]
    # The host name, when the host is not an address.
    name: str | None = None

    def via(self, address: Address) -> httpx.URL:
        """The URL with its host replaced by ``address``, so the connection goes where was checked."""
        return self.url.copy_with(host=str(address))

    @property
    def host_header(self) -> str:
        return self.url.netloc.decode("ascii")

    @property
    def extensions(self) -> dict[str, Any]:
        """TLS is negotiated, and the certificate checked, for the name rather than the address."""
        return {"sni_hostname": self.name} if self.url.scheme == "https" and self.name else {}


def _number(part: str) -> int | None:
    if _HEX.fullmatch(part):
        return int(part[2:], 16)
    if _OCTAL.fullmatch(part):
        return int(part, 8)
    if _DECIMAL.fullmatch(part):
        return int(part)
    return None


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``host`` means to a resolver (``inet_aton``: one to four parts, each decimal, octal
    after a leading 0 or hex after 0x, the last filling the bytes left), or None when it is a name.
    ValueError when it ends in a number yet is no address (``1.2.3.256``, ``example.123``): such a host is
    never a name either."""
    parts = host.split(".")
    if not _ENDS_IN_NUMBER.fullmatch(parts[-1]):
        return None
    numbers = [_number(part) for part in parts]
    if len(parts) > 4 or None in numbers:
        raise ValueError(f"{host} is not an IPv4 address")
    *leading, last = [n for n in numbers if n is not None]
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(parts)):
        raise ValueError(f"{host} is not an IPv4 address")
    return ipaddress.IPv4Address(sum(n << (8 * (3 - i)) for i, n in enumerate(leading)) + last)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4): a connection reaches that one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _is_loopback(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        address = _embedded_ipv4(address) or address
    return address.is_loopback


def address_problem(address: Address, *, allow_local: bool) -> str | None:
    """Why a connection must not go to ``address``, or None when it is public (or on this machine and
    ``allow_local``). Python's ``is_global`` alone lets multicast, site-local and IPv4-compatible IPv6
    through, and does not look inside the IPv6 forms that carry an IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_problem(embedded, allow_local=allow_local)
    if address.is_loopback:
        return None if allow_local else ON_THIS_MACHINE
    if address.is_unspecified:
        # 0.0.0.0 and :: reach this machine, but no receiver is meant to be addressed so.
        return ON_THIS_MACHINE
    if address.is_multicast or not address.is_global:
        return NOT_PUBLIC
    if isinstance(address, ipaddress.IPv6Address) and (address.is_site_local or address in _IPV4_COMPATIBLE):
        return NOT_PUBLIC
    return None


def _parse(url: str, *, allow_local: bool) -> tuple[httpx.URL, str, Address | None]:
    """What the URL alone tells: the parsed URL (as the request will be sent), its host (lowercase, no
    trailing dot), and the address the host is, if it is one. Raises Refused."""
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in url):
        raise Refused("is not a valid URL")
    try:
        parsed = httpx.URL(url)
        raw_host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError):
        raise Refused("is not a valid URL") from None
    if parsed.port is not None and not 0 < parsed.port < 65_536:
        raise Refused("is not a valid URL")
    if parsed.scheme not in ("https", "http"):
        raise Refused("must be an https:// URL")
    if not raw_host:
        raise Refused("has no host")
    if parsed.userinfo:
        raise Refused("must not contain credentials")
    host = raw_host.lower().removesuffix(".")
    address: Address | None
    try:
        address = ipaddress.IPv6Address(host) if ":" in host and "%" not in host else parse_ipv4(host)
    except ValueError:
        raise Refused("has an invalid host") from None
    local_name = host in LOCAL_NAMES or host.endswith(tuple(f".{name}" for name in LOCAL_NAMES))
    if address is None:
        labels = host.split(".")
        if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
            raise Refused("has an invalid host")
        if local_name and not allow_local:
            raise Refused(ON_THIS_MACHINE)
        if host in METADATA_HOSTS:
            raise Refused(METADATA)
        if not local_name and (len(labels) < 2 or host.endswith(tuple(f".{s}" for s in PRIVATE_SUFFIXES))):
            raise Refused(NOT_A_PUBLIC_NAME)
    else:
        problem = address_problem(address, allow_local=allow_local)
        if problem is not None:
            raise Refused(problem)
    on_this_machine = local_name or (address is not None and _is_loopback(address))
    if parsed.scheme != "https" and not (allow_local and on_this_machine):
        raise Refused(HTTPS_ONLY)
    return parsed, host, address


async def resolve_host(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_destination(
    url: str, *, allow_local: bool, must_resolve: bool, resolve: Resolve = resolve_host
) -> Destination:
    """``url`` as a webhook destination, with the addresses to connect to; Refused with the reason when
    the policy (see the module) refuses it. ``must_resolve``: a name that does not resolve is refused
    (at delivery) rather than accepted without addresses (at creation)."""
    parsed, host, address = _parse(url, allow_local=allow_local)
    if address is not None:
        return Destination(parsed, (address,))
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            texts = await resolve(host, port)
    except (OSError, TimeoutError) as exc:
        if must_resolve:
            raise Refused(f"cannot resolve {host}: {str(exc) or 'timed out'}") from None
        return Destination(parsed, (), host)
    addresses: list[Address] = []
    for text in dict.fromkeys(texts):
        try:
            resolved = ipaddress.ip_address(text)
        except ValueError:
            raise Refused(f"{host} resolves to {text!r}, which is not an address") from None
        problem = address_problem(resolved, allow_local=allow_local)
        if problem is not None:
            where = "an address on this machine" if problem == ON_THIS_MACHINE else "a non-public address"
            raise Refused(f"{host} resolves to {resolved}, {where}")
        addresses.append(resolved)
    if not addresses and must_resolve:
        raise Refused(f"cannot resolve {host}: no addresses")
    return Destination(parsed, tuple(addresses), host)
