"""The outbound address policy shared by the subscriptions API and the worker (app/webhooks/addresses.py)."""

from __future__ import annotations

import ipaddress

import pytest

from app.core.config import Environment, Settings
from app.webhooks.addresses import allowlisted, refused_reason

PRODUCTION_SECRET = "a-production-secret-of-enough-length-0123456789"  # pragma: allowlist secret


def settings(environment: Environment = Environment.production, allowlist: list[str] | None = None) -> Settings:
    values: dict[str, object] = {"environment": environment, "webhook_outbound_allowlist": allowlist or []}
    if environment is Environment.production:
        values |= {
            "secret_key": PRODUCTION_SECRET,
            "public_base_url": "https://riskapi.example.org",
            "log_signing_key_file": "/run/secrets/riskapi-log-signing-key",
        }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a unique-local address"),
        ("fd12:3456::1", "a unique-local address"),
        ("::ffff:127.0.0.1", "an IPv4-mapped IPv6 address"),
        ("::ffff:8.8.8.8", "an IPv4-mapped IPv6 address"),
        ("::127.0.0.1", "an IPv6 address that carries a loopback address"),
        ("2002:a9fe:a9fe::", "an IPv6 address that carries a cloud metadata address"),
        ("64:ff9b::a00:1", "an IPv6 address that carries a private address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("224.0.0.251", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
    ],
)
def test_non_public_addresses_are_refused_in_production(address: str, reason: str) -> None:
    assert refused_reason(ipaddress.ip_address(address), settings()) == reason


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:808:808::", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refused_reason(ipaddress.ip_address(address), settings()) is None
    assert refused_reason(ipaddress.ip_address(address), settings(Environment.test)) is None


def test_outside_production_loopback_is_allowed_and_nothing_else() -> None:
    for environment in (Environment.development, Environment.test):
        allowed = settings(environment)
        assert refused_reason(ipaddress.ip_address("127.0.0.1"), allowed) is None
        assert refused_reason(ipaddress.ip_address("::1"), allowed) is None
        assert refused_reason(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) == "an IPv4-mapped IPv6 address"
        assert refused_reason(ipaddress.ip_address("10.0.0.1"), allowed) == "a private address"
        assert refused_reason(ipaddress.ip_address("169.254.169.254"), allowed) == "a cloud metadata address"


def test_the_allowlist_takes_addresses_networks_and_names() -> None:
    listed = settings(allowlist=["10.20.0.0/16", "192.168.1.7", "fd00:ec2::254", "[fd12::/16]", "Hooks.Internal."])
    assert refused_reason(ipaddress.ip_address("10.20.255.1"), listed) is None
    assert refused_reason(ipaddress.ip_address("10.21.0.1"), listed) == "a private address"
    assert refused_reason(ipaddress.ip_address("192.168.1.7"), listed) is None
    assert refused_reason(ipaddress.ip_address("192.168.1.8"), listed) == "a private address"
    assert refused_reason(ipaddress.ip_address("fd00:ec2::254"), listed) is None
    assert refused_reason(ipaddress.ip_address("fd12:1::9"), listed) is None
    assert refused_reason(ipaddress.ip_address("169.254.169.254"), listed) == "a cloud metadata address"
    assert allowlisted("hooks.internal", listed)
    assert allowlisted("HOOKS.INTERNAL.", listed)
    assert allowlisted("10.20.0.9", listed)
    assert allowlisted("[fd12::1]", listed)
    assert not allowlisted("hooks.internal.example", listed)
    assert not allowlisted("internal", listed)
    assert not allowlisted("10.21.0.9", listed)
    assert not allowlisted("hooks.internal", settings())
