"""SSRF guard: webhook URLs must not reach the machine or network aicrm runs in.

A URL is refused when its host is, or resolves to, a private, loopback, link-local, multicast,
reserved, unspecified or otherwise non-global address, IPv4 or IPv6, including IPv6 forms that
embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, 6to4 `2002::/16`, NAT64 `64:ff9b::/96`).
WEBHOOK_ALLOW_PRIVATE=true lifts the rule (development and tests, whose receivers listen on
127.0.0.1).

It is checked twice: when a subscription is saved (`check_url`, a 422 naming the field), and
when a request is sent, because DNS can change in between (a rebinding attack points the name
at 127.0.0.1 after validation). The send-time check lives in the HTTP client's network backend
(`GuardedBackend`): it resolves the host once, checks every address, and connects to a checked
address itself, so there is no second lookup an attacker could answer differently. TLS still
verifies the certificate against the host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Callable
from urllib.parse import urlsplit

import httpcore
import httpx

from aicrm.errors import Invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SCHEMES = {"http", "https"}


class RefusedAddress(httpcore.ConnectError):
    """Raised at connect time when the target resolves to an address the guard refuses."""


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` may not be a webhook target, or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and any(ip in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = blocked_reason(embedded)
            return f"{inner} (embedded in {ip})" if inner else None
    for flag, reason in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(ip, flag):
            return f"{ip} is {reason}"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


async def resolve(host: str, port: int, *, timeout: float = 5.0) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    literal = parse_ip(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP),
        timeout,
    )
    out: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = parse_ip(str(sockaddr[0]))
        if ip is not None and ip not in out:
            out.append(ip)
    return out


async def checked_addresses(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """Resolve once; refuse when ANY address is refused (a name answering both a public and a
    private address is an attack, not a load balancer)."""
    try:
        addresses = await resolve(host, port)
    except (OSError, TimeoutError) as exc:
        raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
    if not addresses:
        raise httpcore.ConnectError(f"{host} has no address")
    if not allow_private:
        for ip in addresses:
            reason = blocked_reason(ip)
            if reason:
                raise RefusedAddress(f"refused to connect to {host}: {reason}")
    return addresses


def url_error(url: str) -> str | None:
    """What is wrong with the shape of a target URL (scheme, host), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if parts.scheme.lower() not in _SCHEMES:
        return "the URL must start with http:// or https://"
    if not parts.hostname:
        return "the URL has no host"
    if any(c.isspace() for c in url):
        return "the URL must not contain spaces"
    return None


def redact(url: str) -> str:
    """The URL for logs, job errors and notifications: credentials in it are masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(malformed URL)"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"***@{host}").geturl()


def split_url(url: str, *, field: str = "url") -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or Invalid naming `field`."""
    error = url_error(url)
    if error:
        raise Invalid(error, field=field)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80)


async def check_url(url: str, *, allow_private: bool, field: str = "url") -> None:
    """Validate a target URL when it is saved: http(s) only, and (unless private targets are
    allowed) a host that resolves, only to public addresses."""
    _, host, port = split_url(url, field=field)
    if allow_private:
        return
    try:
        await checked_addresses(host, port, allow_private=False)
    except RefusedAddress as exc:
        raise Invalid(f"{exc}; webhooks may only target public addresses", field=field) from exc
    except httpcore.ConnectError as exc:
        raise Invalid(f"the host of this URL does not resolve ({exc})", field=field) from exc


def refused(exc: BaseException) -> RefusedAddress | None:
    """The guard's refusal behind an httpx error (httpx wraps httpcore's exceptions)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RefusedAddress):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves, checks and connects to the checked address."""

    def __init__(self, allow_private: Callable[[], bool]) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, allow_private=self._allow_private())
        last: Exception | None = None
        options = list(socket_options or [])
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("webhooks never connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the connection pool swapped for one on `GuardedBackend`.

    httpx does not take a network backend as an argument, so the pool it builds is replaced;
    no proxies from the environment (a proxy would make the connect-time check moot)."""

    def __init__(self, *, allow_private: Callable[[], bool], limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_private),
        )


def guarded_client(
    *, allow_private: Callable[[], bool] | bool, timeout: float, max_connections: int = 100
) -> httpx.AsyncClient:
    """An AsyncClient whose every new connection passes the guard; redirects are never
    followed (a 3xx to an internal address would step around the check) and environment
    proxies are ignored."""
    allow = allow_private if callable(allow_private) else (lambda: bool(allow_private))
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30.0,
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(allow_private=allow, limits=limits),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
