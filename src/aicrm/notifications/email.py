"""Outgoing email: an outbox row written with its cause, then the `email.send` job.

With `SMTP_URL` set the job sends through SMTP (stdlib smtplib in a worker thread: one short
connection per message, and the job framework gives retries with backoff and dead letters, so an
async SMTP client would buy nothing here). Without it the row is marked `kept` and stays in the
outbox, which admins read at /notifications/outbox — the embedded, no-infrastructure mode.

SMTP_URL forms:
  smtp://host[:port]                 plain SMTP (port 25), STARTTLS when the server offers it
  smtp://user:pass@host:587?starttls=true   STARTTLS required (refuses to send in clear)
  smtp://host:1025?starttls=false    never STARTTLS (a local catcher such as MailHog)
  smtps://user:pass@host[:465]       TLS from the first byte
  user and password are URL-decoded (write @ as %40); `timeout=<seconds>` (default 30).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.config import Settings
from aicrm.jobs import JobContext, PermanentError, enqueue, job, periodic
from aicrm.logging import get_logger
from aicrm.models import EmailOutbox, Job, utcnow
from aicrm.notifications import repository
from aicrm.notifications.schemas import EmailStatus

log = get_logger("aicrm.email")

SEND_JOB = "email.send"
SEND_MAX_ATTEMPTS = 8
SWEEP_JOB = "email.sweep"
SWEEP_EVERY_SECONDS = 60.0
# The sweep leaves fresh rows to the job queued with them, and old ones to an admin ("Send" in
# the outbox): an invitation written a week ago before SMTP was set up should not go out now.
SWEEP_GRACE = timedelta(seconds=30)
SWEEP_WINDOW = timedelta(days=1)
SWEEP_BATCH = 500


def send_key(email_id: int) -> str:
    """The first `email.send` of an email: queue_email and the sweep agree on it, so an email is
    never queued twice by them."""
    return f"{SEND_JOB}:{email_id}"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    starttls: Literal["auto", "always", "never"]
    timeout: float


class SmtpUrlError(ValueError):
    """SMTP_URL cannot be understood: a configuration error, not worth retrying."""


def parse_smtp_url(url: str) -> SmtpConfig:
    """`smtp://user:pass@host:port?starttls=auto|true|false&timeout=30` or `smtps://…`."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise SmtpUrlError(f"SMTP_URL must start with smtp:// or smtps://, not {scheme or url!r}")
    if not parts.hostname:
        raise SmtpUrlError("SMTP_URL has no host")
    query = {k.lower(): v[-1].strip().lower() for k, v in parse_qs(parts.query).items()}
    raw = query.get("starttls", "auto")
    starttls: Literal["auto", "always", "never"]
    if raw in ("auto", ""):
        starttls = "auto"
    elif raw in ("1", "true", "yes", "on", "always", "required"):
        starttls = "always"
    elif raw in ("0", "false", "no", "off", "never"):
        starttls = "never"
    else:
        raise SmtpUrlError(f"SMTP_URL starttls must be true, false or auto, not {raw!r}")
    try:
        port = parts.port or (465 if scheme == "smtps" else 25)
        timeout = float(query.get("timeout", "30"))
    except ValueError as exc:
        raise SmtpUrlError(f"SMTP_URL: {exc}") from exc
    return SmtpConfig(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=scheme == "smtps",
        starttls="never" if scheme == "smtps" else starttls,
        timeout=timeout,
    )


def build_message(
    settings: Settings, *, to: str, subject: str, body: str, message_id: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.EMAIL_FROM
    msg["To"] = to
    msg["Subject"] = one_line(subject)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    # The same id on every attempt: a receiver can drop the duplicate of a retried send whose
    # success we could not record.
    msg["Message-ID"] = message_id
    msg.set_content(body)
    return msg


def one_line(text: str) -> str:
    """Header-safe: a line break in a subject (say, from a record's field) would be refused."""
    return " ".join(text.split())


def message_id_for(settings: Settings, email_id: int) -> str:
    domain = parseaddr(settings.EMAIL_FROM)[1].rpartition("@")[2] or "localhost"
    return f"<aicrm-outbox-{email_id}@{domain}>"


def send_sync(config: SmtpConfig, message: EmailMessage) -> None:
    """One SMTP session for one message (blocking: call it in a thread)."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if config.implicit_tls:
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    with smtp:
        smtp.ehlo()
        if not config.implicit_tls and config.starttls != "never":
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif config.starttls == "always":
                raise smtplib.SMTPNotSupportedError(
                    f"{config.host}:{config.port} does not offer STARTTLS (SMTP_URL requires it)"
                )
        if config.username:
            smtp.login(config.username, config.password or "")
        refused = smtp.send_message(message)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)  # type: ignore[arg-type]


async def send(settings: Settings, *, to: str, subject: str, body: str, message_id: str) -> None:
    """Send one message through the SMTP server of `settings.SMTP_URL`."""
    config = parse_smtp_url(settings.SMTP_URL)
    message = build_message(settings, to=to, subject=subject, body=body, message_id=message_id)
    await asyncio.to_thread(send_sync, config, message)


def is_permanent(exc: BaseException) -> bool:
    """Errors a retry cannot fix: bad configuration (SmtpUrlError), a message that cannot be
    built (ValueError), 5xx answers, refused addresses."""
    if isinstance(exc, ValueError | smtplib.SMTPRecipientsRefused | smtplib.SMTPNotSupportedError):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


async def queue_email(
    session: AsyncSession,
    *,
    to_email: str,
    subject: str,
    body: str,
    kind: str = "generic",
    organization_id: int | None = None,
) -> EmailOutbox:
    """Store an email in the outbox and queue its `email.send` job, both in the caller's
    transaction: a change that rolls back sends nothing."""
    row = EmailOutbox(
        organization_id=organization_id,
        to_email=to_email,
        subject=one_line(subject)[:300],
        body=body,
        kind=kind[:40],
        status=EmailStatus.queued.value,
    )
    session.add(row)
    await session.flush()
    await enqueue(
        session,
        SEND_JOB,
        {"email_id": row.id},
        organization_id=organization_id,
        idempotency_key=send_key(row.id),
    )
    return row


async def _mark_failed(ctx: JobContext, email_id: int) -> None:
    # its own short transaction: the job's will roll back with the error being raised
    session = await ctx.db.session(write=True)
    try:
        await session.execute(
            update(EmailOutbox)
            .where(EmailOutbox.id == email_id, EmailOutbox.status != EmailStatus.sent.value)
            .values(status=EmailStatus.failed.value, updated_at=utcnow())
        )
        await session.commit()
    finally:
        await session.close()


@job(SEND_JOB, max_attempts=SEND_MAX_ATTEMPTS, timeout=120)
async def send_email(ctx: JobContext, email_id: int) -> dict[str, Any]:
    """Send one outbox email by SMTP, or keep it in the outbox when no SMTP_URL is set."""
    async with ctx.read() as s:
        row = await s.get(EmailOutbox, email_id)
        max_attempts = await s.scalar(select(Job.max_attempts).where(Job.id == ctx.job_id))
    if row is None:
        return {"skipped": "email no longer exists"}
    if row.status == EmailStatus.sent.value:
        return {"skipped": "already sent"}
    if not ctx.settings.SMTP_URL:
        session = await ctx.session()
        await session.execute(
            update(EmailOutbox)
            .where(EmailOutbox.id == email_id, EmailOutbox.status != EmailStatus.sent.value)
            .values(status=EmailStatus.kept.value, updated_at=utcnow())
        )
        return {"status": EmailStatus.kept.value}
    try:
        await send(
            ctx.settings,
            to=row.to_email,
            subject=row.subject,
            body=row.body,
            message_id=message_id_for(ctx.settings, row.id),
        )
    except Exception as exc:
        permanent = is_permanent(exc)
        if permanent or ctx.attempt >= (max_attempts or SEND_MAX_ATTEMPTS):
            await _mark_failed(ctx, email_id)
        log.warning("email not sent", email_id=email_id, attempt=ctx.attempt, error=str(exc)[:300])
        if permanent:
            raise PermanentError(f"{type(exc).__name__}: {exc}") from exc
        raise
    session = await ctx.session()
    now = utcnow()
    await session.execute(
        update(EmailOutbox)
        .where(EmailOutbox.id == email_id)
        .values(status=EmailStatus.sent.value, sent_at=now, updated_at=now)
    )
    return {"status": EmailStatus.sent.value, "to": row.to_email}


@job(SWEEP_JOB, max_attempts=3)
async def sweep(ctx: JobContext) -> dict[str, int]:
    """Queue `email.send` for outbox rows written without one (code that adds EmailOutbox rows
    directly: invitations, password resets), so they are sent or kept like the others."""
    now = utcnow()
    session = await ctx.session()
    rows = await repository.unsent_emails(
        session, since=now - SWEEP_WINDOW, before=now - SWEEP_GRACE, limit=SWEEP_BATCH
    )
    used = await repository.used_job_keys(session, [send_key(i) for i, _ in rows])
    queued = 0
    for email_id, org_id in rows:
        if send_key(email_id) in used:
            continue
        await enqueue(
            session,
            SEND_JOB,
            {"email_id": email_id},
            organization_id=org_id,
            idempotency_key=send_key(email_id),
        )
        queued += 1
    return {"queued": queued}


periodic(SWEEP_JOB, every=SWEEP_EVERY_SECONDS)
