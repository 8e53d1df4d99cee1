"""Which addresses a webhook may reach: one policy for the subscription API (literal IPs in a URL) and the worker
(every address a name resolves to, checked at connect time).

Refused unless allowlisted (RISKAPI_WEBHOOK_OUTBOUND_ALLOWLIST): loopback, private, shared (carrier-grade NAT),
link-local, IPv6 unique-local, IPv4-mapped IPv6, multicast, unspecified and other non-public addresses, and the cloud
metadata addresses; an IPv6 address that carries an IPv4 one (6to4, NAT64) is judged by the IPv4 address it carries.
In development and test loopback is allowed, so a receiver on the same machine works.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from app.core.config import Environment, Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated; :: and ::1 are in it too
LOOPBACK = "a loopback address"


def _category(ip: IPAddress) -> str | None:
    """Why `ip` is not an address of the public internet, or None when it is one."""
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        carries_ipv4 = ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1)
        embedded = ip.sixtofour or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if carries_ipv4 else None)
        if embedded is not None:
            inner = _category(embedded)
            return None if inner is None else f"an IPv6 address that carries {inner}"
    if ip.is_loopback:
        return LOOPBACK
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in UNIQUE_LOCAL:
        return "a unique-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in SHARED_ADDRESS_SPACE:
        return "a shared (carrier-grade NAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


def refused_reason(ip: IPAddress, settings: Settings) -> str | None:
    """Why a webhook may not connect to `ip` (e.g. "a private address"), or None when it may."""
    reason = _category(ip)
    if reason is None or allowlisted(str(ip), settings):
        return None
    if reason == LOOPBACK and settings.environment is not Environment.production:
        return None
    return reason


def allowlisted(host_or_ip: str, settings: Settings) -> bool:
    """Whether the allowlist names this host (case-insensitive, without a trailing dot) or, for an IP address,
    holds it or a network that contains it. A name on the list allows every address it resolves to."""
    names, networks = _parsed(tuple(settings.webhook_outbound_allowlist))
    candidate = host_or_ip.strip().strip("[]")
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return candidate.rstrip(".").lower() in names
    return any(ip.version == network.version and ip in network for network in networks)


@lru_cache(maxsize=16)
def _parsed(entries: tuple[str, ...]) -> tuple[frozenset[str], tuple[Network, ...]]:
    names: set[str] = set()
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.rstrip(".").lower())
    return frozenset(names), tuple(networks)
