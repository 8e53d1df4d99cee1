"""Which addresses a webhook may reach: loopback, private, link-local, unique-local, IPv4-mapped and metadata
addresses are refused unless allowlisted (RISKAPI_WEBHOOK_OUTBOUND_ALLOWLIST: host names, IPs or CIDRs); outside
production, loopback is allowed so that a receiver on the same machine works (`make run`)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from app.core.config import Environment, Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


@lru_cache(maxsize=64)
def _parsed_allowlist(entries: tuple[str, ...]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return frozenset(hosts), tuple(networks)


def allowlisted(host: str, settings: Settings) -> bool:
    """The host name (or literal address) is on the allowlist."""
    hosts, networks = _parsed_allowlist(tuple(settings.webhook_outbound_allowlist))
    if host.lower().rstrip(".") in hosts:
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return _in_networks(address, networks)


def _in_networks(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def _category(address: IPAddress) -> str | None:
    """Why the address is not a public one (None when it is)."""
    if address in METADATA_ADDRESSES:
        return "metadata"
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:  # 0.0.0.0 and :: reach the local host
        return "not_global"
    if address.is_link_local:
        return "link_local"
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return "unique_local"
    if address.is_private:
        return "private"
    if address.is_multicast or address.is_unspecified or address.is_reserved or not address.is_global:
        return "not_global"
    return None


def refused_reason(ip: str | IPAddress, settings: Settings) -> str | None:
    """Why a connection to `ip` is refused, or None when it may be made. An IPv4-mapped IPv6 address is judged by
    the IPv4 address it carries."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    _, networks = _parsed_allowlist(tuple(settings.webhook_outbound_allowlist))
    if _in_networks(address, networks):
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        mapped = refused_reason(address.ipv4_mapped, settings)
        return None if mapped is None else f"mapped_{mapped}"
    category = _category(address)
    if category == "loopback" and settings.environment is not Environment.production:
        return None
    return category
