"""Password hashing, tokens and opaque secrets."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from aicrm.config import get_settings
from aicrm.errors import Unauthorized

_hasher = PasswordHasher()
ALGORITHM = "HS256"
API_KEY_PREFIX = "aicrm_"
# A fixed hash to verify against when the user does not exist, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    try:
        return _hasher.verify(hashed or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    return _hasher.check_needs_rehash(hashed)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def create_access_token(user_id: int, organization_id: int | None) -> tuple[str, int]:
    settings = get_settings()
    now = datetime.now(UTC)
    ttl = timedelta(minutes=settings.ACCESS_TOKEN_MINUTES)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "org": organization_id,
        "typ": "access",
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM), int(ttl.total_seconds())


def decode_access_token(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, get_settings().SECRET_KEY, algorithms=[ALGORITHM])
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("Access token expired", headers={"WWW-Authenticate": "Bearer"}) from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("Invalid access token", headers={"WWW-Authenticate": "Bearer"}) from exc
    if claims.get("typ") != "access":
        raise Unauthorized("Invalid access token", headers={"WWW-Authenticate": "Bearer"})
    return claims


def new_api_key() -> tuple[str, str, str]:
    """Return (full key shown once, prefix kept for display, sha256 stored)."""
    body = secrets.token_urlsafe(32)
    key = API_KEY_PREFIX + body
    return key, key[: len(API_KEY_PREFIX) + 6], sha256(key)
