"""The pieces on their own: the SSRF check (with private targets NOT allowed), signatures,
event type patterns."""

from __future__ import annotations

import ipaddress
import time

import pytest

from aicrm.errors import Invalid
from aicrm.webhooks import ssrf
from aicrm.webhooks.jobs import post_signed
from aicrm.webhooks.patterns import clean_patterns, matches, pattern_error
from aicrm.webhooks.signing import compute, new_secret, parse, sign, verify
from tests.webhooks.receiver import Receiver

REFUSED = [
    "127.0.0.1",
    "127.255.0.9",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "169.254.169.254",  # cloud metadata
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
    "2001:db8::1",  # documentation
]
ALLOWED = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address: str) -> None:
    assert ssrf.blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses(address: str) -> None:
    assert ssrf.blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost:8000/x",
        "https://[::1]/x",
        "http://[::ffff:7f00:1]/x",
        "http://2130706433/x",  # 127.0.0.1 as one decimal number
        "http://0x7f.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1%25eth0]/x",
    ],
)
async def test_check_url_refuses_private_targets(url: str) -> None:
    with pytest.raises(Invalid) as err:
        await ssrf.check_url(url, allow_private=False)
    assert err.value.errors[0]["field"] == "url"
    # the same URLs are fine in development
    await ssrf.check_url(url, allow_private=True)


async def test_check_url_shapes() -> None:
    await ssrf.check_url("https://93.184.215.14:8443/hook?x=1", allow_private=False)
    for bad in ("ftp://example.com", "//example.com/x", "http:///x", "http://exa mple.com/"):
        with pytest.raises(Invalid):
            await ssrf.check_url(bad, allow_private=True)
    with pytest.raises(Invalid, match="does not resolve"):
        await ssrf.check_url("http://no-such-host.invalid/x", allow_private=False)


async def test_connect_time_guard_refuses_and_sends_nothing() -> None:
    """The client itself refuses: a URL that passed validation once (or whose DNS now points
    inside) never gets a request, whatever name it uses."""
    async with Receiver() as rx:
        client = ssrf.guarded_client(allow_private=False, timeout=5)
        try:
            for url in (rx.url, rx.url.replace("127.0.0.1", "localhost")):
                attempt = await post_signed(
                    client, url, b"{}", message_id="1", secret="s", timeout=5
                )
                assert attempt.permanent and attempt.status_code is None
                assert "refused" in (attempt.error or "")
        finally:
            await client.aclose()
        assert rx.requests == []
        allowed = ssrf.guarded_client(allow_private=True, timeout=5)
        try:
            attempt = await post_signed(
                allowed, rx.url, b"{}", message_id="1", secret=None, timeout=5
            )
        finally:
            await allowed.aclose()
        assert attempt.ok and len(rx.requests) == 1


async def test_redirects_are_not_followed() -> None:
    async with Receiver(status=lambda n: 302) as rx:
        client = ssrf.guarded_client(allow_private=True, timeout=5)
        try:
            attempt = await post_signed(
                client, rx.url, b"{}", message_id="1", secret=None, timeout=5
            )
        finally:
            await client.aclose()
    assert attempt.status_code == 302 and not attempt.ok
    assert "redirects are not followed" in (attempt.error or "")
    assert len(rx.requests) == 1


def test_signature_roundtrip_and_tampering() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and new_secret() != secret
    body = b'{"id":1,"type":"deal.won"}'
    header = sign(secret, body)
    assert verify(secret, header, body)
    assert verify(secret, header, body.decode())
    assert not verify(secret, header, body.replace(b"won", b"wan"))
    assert not verify(secret + "x", header, body)
    assert not verify(secret, "", body) and not verify(secret, None, body)
    assert not verify(secret, "t=abc,v1=00", body)
    # the timestamp is signed: changing it breaks the signature
    ts, sigs = parse(header)
    assert ts is not None and len(sigs) == 1
    assert not verify(secret, f"t={ts + 1},v1={sigs[0]}", body)
    # too old / too far ahead
    old = sign(secret, body, timestamp=int(time.time()) - 301)
    assert not verify(secret, old, body)
    assert verify(secret, old, body, tolerance=None)
    # several v1 values (e.g. during a key change): any one matching is enough
    both = f"t={ts},v1={'0' * 64},v1={sigs[0]}"
    assert verify(secret, both, body)
    # the documented recipe, by hand
    import hashlib
    import hmac

    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert expected == compute(secret, ts, body) == sigs[0]


def test_patterns() -> None:
    assert matches(["*"], "deal.won")
    assert matches(["deal.*"], "deal.stage_changed")
    assert not matches(["deal.*"], "lead.created")
    assert not matches(["deal.*"], "deals.created")
    assert matches(["*.created"], "task.created")
    assert matches(["lead.status_*"], "lead.status_changed")
    assert matches(["lead.created", "deal.won"], "deal.won")
    assert not matches(["lead.created"], "lead.created_x")
    # a user's inbox items never leave through webhooks
    assert not matches(["*"], "notification.created")
    assert not matches(["notification.*"], "notification.created")
    for ok in ("*", "deal.won", "deal.*", "*.deleted", "lead.status_*", "a1.b_2"):
        assert pattern_error(ok) is None, ok
    for bad in (
        "",
        "Deal.won",
        "deal..won",
        ".deal",
        "deal.",
        "deal.won?",
        "deal.[w]on",
        "**",
        "a" * 61,
    ):
        assert pattern_error(bad) is not None, bad
    assert clean_patterns([" deal.* ", "deal.*", "lead.created"]) == ["deal.*", "lead.created"]
    with pytest.raises(ValueError, match="event_types"):
        clean_patterns(["ok.type", "BAD"])
