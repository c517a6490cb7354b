"""Webhook delivery: the event consumer that fans events out, and the jobs that POST them.

`webhooks.deliver` sends one delivery. The HTTP call happens before any write transaction is
opened (on SQLite a write transaction holds the database's write lock). Its outcome is then
recorded on the delivery:

- 2xx: in the job's own transaction (`ctx.session()`), which also marks the job succeeded, so
  the success record and the job's completion commit together;
- anything else: in a separate short transaction that commits before the job raises, because
  raising rolls back the job's transaction — and the log must show every failed attempt. That
  transaction is fenced by the job row (same attempt, still running), so a worker whose lease
  was taken over records nothing. The job framework then retries with backoff; 410 Gone, a
  refused (private) target or an unusable URL stop retries at once (PermanentError).

Failed attempts are counted on the subscription (a success resets the count); at
WEBHOOK_DISABLE_AFTER in a row — or on a 410 — the subscription is disabled and the
organization's owners and admins get a `webhook.disabled` notification.

`webhooks.post` is a one-off signed POST with the same guard and retries (the automation
rules' "call a webhook" action); it has no subscription, so it is not in the delivery log and
reports its outcome in the job result.

Deliveries share a few pooled `httpx.AsyncClient`s per worker process and event loop (see
`http_client`), never one per delivery.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import weakref
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from aicrm.audit import service as audit
from aicrm.config import Settings, get_settings
from aicrm.errors import Invalid
from aicrm.events.relay import consumer
from aicrm.jobs import JobContext, PermanentError, job
from aicrm.kit.principal import Principal, Role
from aicrm.logging import get_logger
from aicrm.models import Job, OutboxEvent, utcnow
from aicrm.webhooks import service, ssrf
from aicrm.webhooks.repository import DeliveryRepo, WebhookRepo
from aicrm.webhooks.schemas import DeliveryStatus
from aicrm.webhooks.signing import ID_HEADER, SIGNATURE_HEADER, sign

log = get_logger("aicrm.webhooks")

USER_AGENT = "aicrm-webhooks/1"
EXCERPT_BYTES = 1024
DISABLED_TYPE = "webhook.disabled"


class DeliveryFailed(Exception):
    """A non-2xx answer or a network error: the job is retried with backoff."""


# -- the HTTP client -----------------------------------------------------------------------

# Clients per event loop and SSRF policy, a few of them taken in turn: httpcore's pool
# matches queued requests to connections by scanning all of them on every request start and
# end (and polls each idle socket), so one pool of 16 busy connections spent ~2.5x the CPU per
# request of four pools of four (measured here: 1.8 vs 0.7 ms).
CONNECTIONS_PER_CLIENT = 4
_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[bool, tuple[list[httpx.AsyncClient], itertools.count[int]]]
] = weakref.WeakKeyDictionary()


def http_client(settings: Settings) -> httpx.AsyncClient:
    """One of this process's pooled clients for this event loop (Celery tasks may run on fresh
    loops; a client must not outlive its loop). Separate clients per SSRF policy, so a
    connection opened while private targets were allowed is never reused once they are not."""
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    allow = bool(settings.WEBHOOK_ALLOW_PRIVATE)
    entry = per_loop.get(allow)
    if entry is None or any(c.is_closed for c in entry[0]):
        shards = max(1, -(-settings.JOB_CONCURRENCY // CONNECTIONS_PER_CLIENT))
        clients = [
            ssrf.guarded_client(
                allow_private=allow,
                timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                max_connections=4 * CONNECTIONS_PER_CLIENT,
            )
            for _ in range(shards)
        ]
        entry = (clients, itertools.count())
        per_loop[allow] = entry
    clients, turn = entry
    return clients[next(turn) % len(clients)]


async def close_clients() -> None:
    """Close this loop's clients (bench and tests; workers just exit)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    for clients, _ in _clients.pop(loop, {}).values():
        for client in clients:
            await client.aclose()


# -- one signed POST -----------------------------------------------------------------------


@dataclass
class Attempt:
    status_code: int | None = None
    latency_ms: float | None = None
    excerpt: str | None = None
    error: str | None = None
    permanent: bool = False  # retrying cannot help (refused target, malformed URL)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410

    def summary(self) -> str:
        if self.status_code is not None:
            return f"HTTP {self.status_code}" + (f": {self.error}" if self.error else "")
        return self.error or "failed"


async def post_signed(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    message_id: str,
    secret: str | None,
    timeout: float,
) -> Attempt:
    """POST `body` once; never raises for HTTP or network trouble (it is the attempt's result)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        ID_HEADER: message_id,
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    started = time.perf_counter()
    attempt = Attempt()
    try:
        async with client.stream(
            "POST", url, content=body, headers=headers, timeout=timeout
        ) as response:
            attempt.status_code = response.status_code
            excerpt = bytearray()
            async for chunk in response.aiter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
            # NUL cannot be stored in a PostgreSQL text column; a receiver may well send one
            attempt.excerpt = (
                bytes(excerpt[:EXCERPT_BYTES]).decode("utf-8", errors="replace").replace("\x00", "")
            )
        if not attempt.ok:
            reason = response.reason_phrase or ""
            if 300 <= response.status_code < 400:
                location = response.headers.get("location", "")
                reason = f"redirects are not followed ({location[:200]})"
            attempt.error = reason or None
    except httpx.TimeoutException as exc:
        attempt.error = f"timed out after {timeout:g} s ({type(exc).__name__})"
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        attempt.error = f"unusable URL: {exc}"
        attempt.permanent = True
    except httpx.HTTPError as exc:
        refusal = ssrf.refused(exc)
        if refusal is not None:
            attempt.error = str(refusal)
            attempt.permanent = True
        else:
            attempt.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    attempt.latency_ms = round((time.perf_counter() - started) * 1000, 2)
    if attempt.error:
        attempt.error = attempt.error.replace("\x00", "")[:500]
    return attempt


# -- the consumer --------------------------------------------------------------------------


@consumer("webhooks")
async def on_events(ctx: JobContext, events: list[OutboxEvent]) -> None:
    """Queue a delivery per event and matching subscription (no HTTP here)."""
    session = await ctx.session()
    await service.fan_out(session, events, settings=ctx.settings)


# -- webhooks.deliver ----------------------------------------------------------------------


@dataclass
class _Loaded:
    delivery_id: int
    subscription_id: int
    url: str
    secret: str
    active: bool
    manual: bool
    payload: dict[str, Any]
    attempt_log: list[dict[str, Any]]
    max_attempts: int


async def _load(ctx: JobContext, delivery_id: int) -> _Loaded | str:
    async with ctx.read() as s:
        row = await DeliveryRepo.from_session(s, ctx.principal).for_sending(
            delivery_id, job_id=ctx.job_id
        )
    if row is None:
        return "the delivery or its webhook no longer exists"
    if row.status == DeliveryStatus.succeeded.value:
        return "already delivered"
    return _Loaded(
        delivery_id=row.id,
        subscription_id=row.subscription_id,
        url=row.url,
        secret=row.secret,
        active=row.active,
        manual=service.is_manual(row.event_type, row.replay_of_id),
        payload=dict(row.payload or {}),
        attempt_log=list(row.attempt_log or []),
        max_attempts=int(row.max_attempts or ctx.settings.WEBHOOK_MAX_ATTEMPTS),
    )


def _log_entry(ctx: JobContext, attempt: Attempt) -> dict[str, Any]:
    return {
        "attempt": ctx.attempt,
        "at": utcnow(),
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "error": attempt.error,
    }


@job("webhooks.deliver", timeout=120)
async def deliver(ctx: JobContext, delivery_id: int) -> dict[str, Any]:
    """POST one delivery to its webhook and record the attempt on it."""
    loaded = await _load(ctx, delivery_id)
    if isinstance(loaded, str):
        return {"skipped": loaded}
    if not loaded.active and not loaded.manual:
        session = await ctx.session()
        await DeliveryRepo.from_session(session, ctx.principal).record(
            delivery_id,
            {"status": DeliveryStatus.failed.value, "error": "not sent: the webhook is disabled"},
        )
        return {"skipped": "webhook disabled"}

    body = service.encode(service.body_of(loaded.delivery_id, loaded.payload))
    attempt = await post_signed(
        http_client(ctx.settings),
        loaded.url,
        body,
        message_id=str(loaded.delivery_id),
        secret=loaded.secret,
        timeout=ctx.settings.WEBHOOK_TIMEOUT_SECONDS,
    )
    entry = _log_entry(ctx, attempt)
    values: dict[str, Any] = {
        "attempts": ctx.attempt,
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "response_excerpt": attempt.excerpt,
        "error": attempt.error,
        "attempt_log": service.with_attempt(loaded.attempt_log, entry),
        "delivered_at": None,
    }
    result = {
        "delivery_id": loaded.delivery_id,
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "attempt": ctx.attempt,
    }
    if attempt.ok:
        values |= {"status": DeliveryStatus.succeeded.value, "delivered_at": utcnow()}
        session = await ctx.session()
        await DeliveryRepo.from_session(session, ctx.principal).record_attempt(delivery_id, values)
        await WebhookRepo.from_session(session, ctx.principal).record_success(
            loaded.subscription_id
        )
        return result

    final = attempt.gone or attempt.permanent or ctx.attempt >= loaded.max_attempts
    values["status"] = (DeliveryStatus.failed if final else DeliveryStatus.retrying).value
    await _record_failure(ctx, loaded, attempt, values)
    message = f"delivery {loaded.delivery_id} to {ssrf.redact(loaded.url)}: {attempt.summary()}"
    if attempt.gone or attempt.permanent:
        raise PermanentError(message)
    raise DeliveryFailed(message)


async def _record_failure(
    ctx: JobContext, loaded: _Loaded, attempt: Attempt, values: dict[str, Any]
) -> None:
    """The failed attempt, the subscription's failure streak and (at the threshold) its
    disabling, in their own transaction so the job's retry does not roll them back."""
    session = await ctx.db.session(write=True)
    try:
        still_ours = await session.scalar(
            select(Job.id).where(
                Job.id == ctx.job_id, Job.attempts == ctx.attempt, Job.status == "running"
            )
        )
        if still_ours is None:
            await session.rollback()
            return
        principal = ctx.principal
        await DeliveryRepo.from_session(session, principal).record_attempt(
            loaded.delivery_id, values
        )
        subs = WebhookRepo.from_session(session, principal)
        streak = await subs.record_failure(loaded.subscription_id)
        if streak is not None:
            count, active = streak
            reason = None
            if attempt.gone:
                reason = "the receiver answered 410 Gone"
            elif active and count >= ctx.settings.WEBHOOK_DISABLE_AFTER:
                reason = f"{count} failed attempts in a row; last: {attempt.summary()}"
            if reason and await subs.disable(loaded.subscription_id, reason):
                await _disabled(session, principal, loaded, reason, count)
        await session.commit()
    finally:
        await session.close()


async def _disabled(
    session: Any, principal: Principal, loaded: _Loaded, reason: str, count: int
) -> None:
    """Audit the automatic disable and tell the organization's owners and admins."""
    from aicrm.notifications import service as notifications
    from aicrm.orgs import service as org_service

    await audit.record(
        session,
        principal,
        "update",
        service.ENTITY,
        loaded.subscription_id,
        before={"active": True},
        after={"active": False, "disabled_reason": reason},
    )
    admins = [
        m.user_id
        for m in await org_service.list_members(session, principal)
        if m.role in (Role.owner, Role.admin)
    ]
    await notifications.notify(
        session,
        principal,
        user_ids=admins,
        type_=DISABLED_TYPE,
        title="A webhook was disabled",
        body=f"Deliveries to {ssrf.redact(loaded.url)[:200]} stopped: {reason}. "
        "Fix the endpoint, then re-enable the webhook.",
        link=f"/settings/webhooks/{loaded.subscription_id}",
        entity_type=service.ENTITY,
        entity_id=loaded.subscription_id,
        data={
            "webhook_id": loaded.subscription_id,
            "url": ssrf.redact(loaded.url),
            "failures": count,
        },
    )
    log.warning(
        "webhook disabled",
        webhook_id=loaded.subscription_id,
        organization_id=principal.organization_id,
        reason=reason[:200],
    )


# -- webhooks.post -------------------------------------------------------------------------


@job("webhooks.post", max_attempts=get_settings().WEBHOOK_MAX_ATTEMPTS, timeout=120)
async def post(
    ctx: JobContext,
    url: str,
    payload: dict[str, Any],
    event_type: str = "automation.webhook",
    secret: str | None = None,
) -> dict[str, Any]:
    """A one-off signed POST of `{"id", "type", "created_at", "organization_id", "data":
    payload}`; the id (`job_<job id>`) is the same on every retry, so receivers can dedupe."""
    if ctx.organization_id is None:
        raise PermanentError("webhooks.post needs the organization it acts for")
    if not isinstance(payload, dict):
        raise PermanentError("payload must be a JSON object")
    try:
        ssrf.split_url(str(url))
    except Invalid as exc:
        raise PermanentError(f"{ssrf.redact(str(url))!r}: {exc.message}") from exc
    async with ctx.read() as s:
        queued_at = await s.scalar(select(Job.created_at).where(Job.id == ctx.job_id))
    message_id = f"job_{ctx.job_id}"
    body = {
        "id": message_id,
        **service.envelope(
            event_type=str(event_type)[:60],
            created_at=queued_at or utcnow(),
            organization_id=ctx.organization_id,
            data=payload,
        ),
    }
    attempt = await post_signed(
        http_client(ctx.settings),
        str(url),
        service.encode(body),
        message_id=message_id,
        secret=secret or None,
        timeout=ctx.settings.WEBHOOK_TIMEOUT_SECONDS,
    )
    if attempt.ok:
        return {
            "status_code": attempt.status_code,
            "latency_ms": attempt.latency_ms,
            "attempt": ctx.attempt,
            "response_excerpt": (attempt.excerpt or "")[:200],
        }
    message = f"POST {ssrf.redact(str(url))}: {attempt.summary()}"
    if attempt.gone or attempt.permanent:
        raise PermanentError(message)
    raise DeliveryFailed(message)
