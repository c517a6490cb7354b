"""Webhook signatures, the way the common payment providers do them (Stripe-style).

Every request aicrm sends carries

    AICRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

where `secret` is the subscription's whole secret string (`whsec_…`, UTF-8) and the raw body is
the exact bytes received — verify before parsing the JSON, never over a re-serialised copy.
The timestamp is inside the signed text, so a captured request cannot be replayed later than
`tolerance` seconds; the `AICRM-Webhook-Id` header identifies a delivery across retries, so
receivers dedupe on it. A header may carry several `v1=` values (any one matching is enough).

A receiver in Python:

    from aicrm.webhooks.signing import verify
    if not verify(secret, request.headers["AICRM-Signature"], raw_body):
        return 400
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "AICRM-Signature"
ID_HEADER = "AICRM-Webhook-Id"
SECRET_PREFIX = "whsec_"
SCHEME = "v1"


def new_secret() -> str:
    """A fresh signing secret: 256 random bits, prefixed so it is recognisable in a config."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def compute(secret: str, timestamp: int, body: str | bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>.<body>"` keyed by the secret."""
    message = str(int(timestamp)).encode("ascii") + b"." + _as_bytes(body)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: str | bytes, *, timestamp: int | None = None) -> str:
    """The `AICRM-Signature` header value for `body` (signed now unless `timestamp` is given)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={ts},{SCHEME}={compute(secret, ts, body)}"


def parse(header: str) -> tuple[int | None, list[str]]:
    """`t=…,v1=…[,v1=…]` → (timestamp, [v1 signatures]); unknown schemes are ignored."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return None, []
        elif key == SCHEME and value:
            signatures.append(value.strip().lower())
    return timestamp, signatures


def verify(
    secret: str,
    header: str | None,
    body: str | bytes,
    tolerance: int | None = 300,
    *,
    now: float | None = None,
) -> bool:
    """True when `header` signs exactly `body` with `secret` and its timestamp is within
    `tolerance` seconds of now (None disables the age check — only for stored requests)."""
    if not header or not secret:
        return False
    timestamp, signatures = parse(header)
    if timestamp is None or not signatures:
        return False
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance:
            return False
    expected = compute(secret, timestamp, body)
    # compare against every candidate without stopping early (constant time per candidate)
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    return matched
