"""Idempotency-Key on writes: a retried request gets the first attempt's response, once.

The lookup happens when the caller is authenticated (the key is per organization); the
response is stored by TxRoute in the same transaction as the change it describes, so a
rolled-back attempt leaves nothing to replay."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.errors import AICRMError, Invalid
from aicrm.kit.principal import Principal
from aicrm.models import IdempotencyRecord

HEADER = "idempotency-key"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class Replay(AICRMError):  # noqa: N818 - not an error: carries the stored response
    status = 200

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


async def fingerprint(request: Request) -> str:
    body = await request.body()
    return hashlib.sha256(
        request.method.encode() + request.url.path.encode() + b"\n" + body
    ).hexdigest()


async def check(request: Request, session: AsyncSession, principal: Principal) -> None:
    """Raise Replay with the stored response when this key was already used successfully."""
    key = request.headers.get(HEADER)
    if not key or request.method not in WRITE_METHODS:
        return
    if len(key) > 200:
        raise Invalid("Idempotency-Key must be at most 200 characters", field="Idempotency-Key")
    row = (
        await session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.organization_id == principal.organization_id,
                IdempotencyRecord.key == key,
            )
        )
    ).scalar_one_or_none()
    fp = await fingerprint(request)
    if row is None:
        request.state.idempotency = (principal.organization_id, key, fp)
        return
    if row.fingerprint != fp:
        raise Invalid(
            "This Idempotency-Key was used for a different request", field="Idempotency-Key"
        )
    raise Replay(
        Response(
            content=row.body,
            status_code=row.status_code,
            media_type=row.content_type,
            headers={"Idempotent-Replayed": "true"},
        )
    )


def store(request: Request, session: AsyncSession, response: Response) -> None:
    pending = getattr(request.state, "idempotency", None)
    body = getattr(response, "body", None)
    if pending is None or body is None:
        return
    org_id, key, fp = pending
    session.add(
        IdempotencyRecord(
            organization_id=org_id,
            key=key,
            method=request.method,
            path=request.url.path[:500],
            fingerprint=fp,
            status_code=response.status_code,
            content_type=response.media_type or "application/json",
            body=bytes(body),
        )
    )
