"""The email channel: a preference with email on puts the notification in the outbox and queues
`email.send`; the job delivers through a real SMTP server (aiosmtpd) when SMTP_URL is set and
keeps the email in the outbox when it is not."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from aicrm.config import Settings, get_settings
from aicrm.db import Database
from aicrm.jobs import PermanentError
from aicrm.jobs.context import JobContext
from aicrm.models import EmailOutbox, Job
from aicrm.notifications.email import (
    SmtpUrlError,
    parse_smtp_url,
    send_email,
)
from tests.fixtures.factories import Account, member, register
from tests.fixtures.server import LiveServer
from tests.notifications.common import assign_task, wait_for
from tests.notifications.conftest import SmtpServer

PREFS = "/api/v1/notifications/preferences"


def test_smtp_url_forms() -> None:
    c = parse_smtp_url("smtp://mail.example.com")
    assert (c.host, c.port, c.username, c.implicit_tls, c.starttls) == (
        "mail.example.com",
        25,
        None,
        False,
        "auto",
    )
    c = parse_smtp_url("smtp://me%40example.com:p%40ss@mail.example.com:587?starttls=true")
    assert (c.username, c.password, c.port, c.starttls) == (
        "me@example.com",
        "p@ss",
        587,
        "always",
    )
    c = parse_smtp_url("smtps://u:p@mail.example.com?timeout=5")
    assert (c.port, c.implicit_tls, c.starttls, c.timeout) == (465, True, "never", 5.0)
    assert parse_smtp_url("smtp://localhost:1025?starttls=false").starttls == "never"
    for bad in ("http://mail.example.com", "smtp://", "smtp://h?starttls=maybe", "smtp://h:x"):
        with pytest.raises(SmtpUrlError):
            parse_smtp_url(bad)


def _settings(**overrides: Any) -> Settings:
    return get_settings().model_copy(update=overrides)


async def _run(db: Database, settings: Settings, **args: Any) -> dict[str, Any]:
    """Run `email.send` the way the runner does: the job's session commits with its result."""
    ctx = JobContext(
        db=db,
        settings=settings,
        job_id=0,
        name="email.send",
        attempt=1,
        organization_id=None,
        worker="test",
    )
    try:
        result = await send_email(ctx, **args)
        if ctx._session is not None:
            await ctx._session.commit()
        return result
    except BaseException:
        if ctx._session is not None:
            await ctx._session.rollback()
        raise
    finally:
        if ctx._session is not None:
            await ctx._session.close()


async def _email_row(db: Database, email_id: int) -> EmailOutbox:
    session = await db.session(write=False)
    try:
        row = await session.get(EmailOutbox, email_id)
        assert row is not None
        return row
    finally:
        await session.close()


async def _queue(db: Database, to: str, subject: str = "Hello", body: str = "Body") -> int:
    # the row alone, without its job: only the test runs it (the server's worker would keep it)
    session = await db.session(write=True)
    try:
        row = EmailOutbox(to_email=to, subject=subject, body=body, kind="test", status="queued")
        session.add(row)
        await session.flush()
        email_id = row.id
        await session.commit()
    finally:
        await session.close()
    return email_id


async def _wait_status(
    db: Database, email_id: int, status: str, timeout: float = 15
) -> EmailOutbox:
    deadline = time.monotonic() + timeout
    while True:
        row = await _email_row(db, email_id)
        if row.status == status:
            return row
        assert time.monotonic() < deadline, f"email {email_id} stayed {row.status}"
        await asyncio.sleep(0.1)


async def _outbox_of(db: Database, to: str) -> list[EmailOutbox]:
    session = await db.session(write=False)
    try:
        rows = await session.scalars(
            select(EmailOutbox)
            .where(EmailOutbox.to_email == to, EmailOutbox.kind == "notification")
            .order_by(EmailOutbox.id)
        )
        return list(rows)
    finally:
        await session.close()


async def _email_on(client: httpx.AsyncClient, acc: Account, type_: str, in_app: bool) -> None:
    r = await client.put(
        PREFS, json=[{"type": type_, "in_app": in_app, "email": True}], headers=acc.headers
    )
    assert r.status_code == 200, r.text


async def test_email_preference_queues_an_outbox_email_kept_without_smtp(
    client: httpx.AsyncClient, db: Database
) -> None:
    owner = await register(client, org="Mail Co", full_name="Mia Owner")
    agent = await member(client, owner, "agent")
    await _email_on(client, agent, "task.assigned", in_app=True)
    task = await assign_task(client, owner, agent, "Send the quote")
    await wait_for(client, agent, lambda items: any(i["entity_id"] == task["id"] for i in items))

    rows = await _outbox_of(db, agent.email)
    assert len(rows) == 1
    row = rows[0]
    assert row.organization_id == owner.organization_id and row.kind == "notification"
    assert row.subject == "Task assigned to you: Send the quote"
    assert "Mia Owner assigned you this task." in row.body
    assert f"/tasks/{task['id']}" in row.body and "/settings/notifications" in row.body
    session = await db.session(write=False)
    try:
        jobs = list(await session.scalars(select(Job).where(Job.name == "email.send")))
    finally:
        await session.close()
    assert any(j.args == {"email_id": row.id} for j in jobs)
    # the test server has no SMTP_URL: the email stays in the outbox
    await _wait_status(db, row.id, "kept")

    # in-app off, email on: an email and no notification
    await _email_on(client, agent, "task.assigned", in_app=False)
    quiet = await assign_task(client, owner, agent, "Email only")
    deadline = time.monotonic() + 15
    while len(await _outbox_of(db, agent.email)) < 2:
        assert time.monotonic() < deadline, "no second email"
        await asyncio.sleep(0.1)
    items = await wait_for(client, agent, lambda items: True)
    assert not [i for i in items if i["entity_id"] == quiet["id"]]


async def test_send_delivers_through_smtp_and_marks_sent(
    db: Database, smtp_server: SmtpServer
) -> None:
    # a line break in a subject (from a record's field, say) must not break the header
    email_id = await _queue(db, "ada@example.com", "Your\r\n task", "Line one\nLine two")
    settings = _settings(
        SMTP_URL=smtp_server.url(starttls="false"), EMAIL_FROM="CRM <crm@example.org>"
    )
    result = await _run(db, settings, email_id=email_id)
    assert result == {"status": "sent", "to": "ada@example.com"}
    assert len(smtp_server.messages) == 1
    msg = smtp_server.messages[0]
    assert msg["To"] == "ada@example.com" and msg["From"] == "CRM <crm@example.org>"
    assert msg["Subject"] == "Your task"
    assert msg["Message-ID"] == f"<aicrm-outbox-{email_id}@example.org>"
    assert msg.get_content().replace("\r\n", "\n").strip() == "Line one\nLine two"
    assert smtp_server.envelopes[0].mail_from == "crm@example.org"
    row = await _email_row(db, email_id)
    assert row.status == "sent" and row.sent_at is not None

    # a second run (a retried job) does not send again
    assert await _run(db, settings, email_id=email_id) == {"skipped": "already sent"}
    assert len(smtp_server.messages) == 1


async def test_send_logs_in_with_url_credentials(db: Database, smtp_server: SmtpServer) -> None:
    email_id = await _queue(db, "bob@example.com")
    settings = _settings(SMTP_URL=f"smtp://mailer:p%40ss%20word@127.0.0.1:{smtp_server.port}")
    assert (await _run(db, settings, email_id=email_id))["status"] == "sent"
    assert smtp_server.logins == [(b"mailer", b"p@ss word")]

    wrong = await _queue(db, "bob@example.com")
    settings = _settings(SMTP_URL=f"smtp://mailer:nope@127.0.0.1:{smtp_server.port}")
    with pytest.raises(PermanentError, match="SMTPAuthenticationError"):
        await _run(db, settings, email_id=wrong)
    assert (await _email_row(db, wrong)).status == "failed"


async def test_refused_recipient_is_a_permanent_failure(
    db: Database, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse.add("gone@example.com")
    email_id = await _queue(db, "gone@example.com")
    with pytest.raises(PermanentError, match="SMTPRecipientsRefused"):
        await _run(db, _settings(SMTP_URL=smtp_server.url()), email_id=email_id)
    assert (await _email_row(db, email_id)).status == "failed"
    assert smtp_server.messages == []


async def test_required_starttls_is_never_skipped(db: Database, smtp_server: SmtpServer) -> None:
    email_id = await _queue(db, "tls@example.com")
    with pytest.raises(PermanentError, match="STARTTLS"):
        await _run(db, _settings(SMTP_URL=smtp_server.url(starttls="true")), email_id=email_id)
    assert smtp_server.messages == []


async def test_unreachable_server_is_retried(db: Database) -> None:
    from tests.fixtures.server import free_port

    email_id = await _queue(db, "later@example.com")
    with pytest.raises(ConnectionRefusedError):
        await _run(db, _settings(SMTP_URL=f"smtp://127.0.0.1:{free_port()}"), email_id=email_id)
    # not the last attempt: the email waits for the retry
    assert (await _email_row(db, email_id)).status != "failed"


async def test_the_running_server_delivers_notification_email(
    client: httpx.AsyncClient,
    db: Database,
    smtp_server: SmtpServer,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """End to end: REST assignment → consumer → outbox + email.send → the server's own worker
    → SMTP. The server reads SMTP_URL from its settings object for every job, so pointing that
    object at the local SMTP server is the same as starting it with SMTP_URL set."""
    monkeypatch.setattr(live_server.app.state.settings, "SMTP_URL", smtp_server.url())
    owner = await register(client, org="Smtp Co")
    agent = await member(client, owner, "agent")
    await _email_on(client, agent, "task.assigned", in_app=True)
    task = await assign_task(client, owner, agent, "Deliver me")
    subject = "Task assigned to you: Deliver me"
    deadline = time.monotonic() + 15

    def delivered() -> list[Any]:
        # the agent also got their invitation email through the same path
        return [
            m for m in smtp_server.messages if m["To"] == agent.email and m["Subject"] == subject
        ]

    while not delivered():
        assert time.monotonic() < deadline, "the email never arrived"
        await asyncio.sleep(0.1)
    assert f"/tasks/{task['id']}" in delivered()[0].get_content()
    row = next(r for r in await _outbox_of(db, agent.email) if r.subject == subject)
    row = await _wait_status(db, row.id, "sent")
    assert row.sent_at is not None


async def test_sweep_queues_emails_written_without_a_job(db: Database) -> None:
    """Invitations and password resets add outbox rows directly; the periodic sweep gives each
    one its `email.send` (once), recent ones only."""
    from datetime import timedelta

    from aicrm.jobs import enqueue
    from aicrm.models import utcnow
    from aicrm.notifications.email import SWEEP_JOB, send_key

    now = utcnow()
    session = await db.session(write=True)
    try:
        rows = [
            EmailOutbox(
                to_email=to,
                subject="Reset your aicrm password",
                body="secret link",
                kind="password_reset",
                status="queued",
                created_at=now - age,
            )
            for to, age in (
                ("swept@example.com", timedelta(minutes=5)),
                ("fresh@example.com", timedelta(seconds=0)),
                ("ancient@example.com", timedelta(days=3)),
            )
        ]
        session.add_all(rows)
        await session.flush()
        swept, fresh, ancient = (r.id for r in rows)
        await session.commit()
    finally:
        await session.close()

    async def sweep_once() -> None:
        session = await db.session(write=True)
        try:
            job = await enqueue(session, SWEEP_JOB, {})
            assert job is not None
            await session.commit()
        finally:
            await session.close()
        deadline = time.monotonic() + 15
        while True:
            session = await db.session(write=False)
            try:
                status = await session.scalar(select(Job.status).where(Job.id == job.id))
            finally:
                await session.close()
            if status == "succeeded":
                return
            assert status in ("queued", "running") and time.monotonic() < deadline, status
            await asyncio.sleep(0.1)

    await sweep_once()
    await _wait_status(db, swept, "kept")
    await sweep_once()
    session = await db.session(write=False)
    try:
        keyed = await session.scalar(
            select(func.count()).select_from(Job).where(Job.idempotency_key == send_key(swept))
        )
        others = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.idempotency_key.in_([send_key(fresh), send_key(ancient)]))
        )
    finally:
        await session.close()
    assert (keyed, others) == (1, 0)
    assert (await _email_row(db, fresh)).status == "queued"
    assert (await _email_row(db, ancient)).status == "queued"
