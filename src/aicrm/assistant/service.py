"""The chat API's operations: send a message (queued as a job or answered in a stream), poll a
task, read and clear a conversation's memory, undo the last change."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.assistant import engine
from aicrm.assistant.repository import (
    ActionRepo,
    ConversationRepo,
    MessageRepo,
    owner_of,
)
from aicrm.assistant.schemas import (
    DEFAULT_SESSION,
    ChatAccepted,
    ChatIn,
    ChatStatus,
    Cleared,
    History,
    TaskStatus,
    TurnResult,
    UndoOut,
)
from aicrm.errors import Conflict, NotFound
from aicrm.jobs import enqueue
from aicrm.jobs import service as jobs_service
from aicrm.kit.principal import Principal
from aicrm.models import AssistantConversation, AssistantMessage, utcnow

CHAT_JOB = "assistant.chat"


def _busy(conv: AssistantConversation, now: datetime) -> bool:
    return conv.busy_until is not None and conv.busy_until > now


async def _start(
    session: AsyncSession, principal: Principal, data: ChatIn
) -> tuple[AssistantConversation, AssistantMessage]:
    """The conversation (created on first use) and the user's message, claimed for one turn."""
    owner_of(principal)  # a caller without a user or key cannot chat
    session_id = data.session_id or DEFAULT_SESSION
    conv = await ConversationRepo.from_session(session, principal).get_or_create(session_id)
    now = utcnow()
    if _busy(conv, now):
        raise Conflict(
            "The assistant is still answering the previous message of this conversation; "
            "wait for it (or use another session_id)",
            errors=[{"field": "session_id", "message": "conversation busy"}],
        )
    msg = AssistantMessage(
        conversation_id=conv.id, role="user", content=data.message, status="pending"
    )
    await MessageRepo.from_session(session, principal).add(msg)
    conv.busy_until = now + timedelta(seconds=engine.BUSY_SECONDS)
    conv.last_message_at = now
    conv.message_count = (conv.message_count or 0) + 1
    return conv, msg


async def send(session: AsyncSession, principal: Principal, data: ChatIn) -> ChatAccepted:
    """Store the message and queue its answer (job `assistant.chat`)."""
    conv, msg = await _start(session, principal, data)
    job = await enqueue(
        session,
        CHAT_JOB,
        {
            "conversation_id": conv.id,
            "message_id": msg.id,
            "user_id": principal.user_id,
            "api_key_id": principal.api_key_id,
            "ip": principal.ip,
        },
        organization_id=principal.organization_id,
    )
    assert job is not None  # no idempotency key: always queued
    await session.flush()
    msg.job_id = job.id
    return ChatAccepted(
        task_id=str(job.id),
        session_id=conv.session_id,
        conversation_id=conv.id,
        message_id=msg.id,
    )


async def start_stream(session: AsyncSession, principal: Principal, data: ChatIn) -> ChatAccepted:
    """Store the message for a turn answered in the request's own event stream."""
    conv, msg = await _start(session, principal, data)
    await session.flush()
    return ChatAccepted(
        task_id=f"stream-{msg.id}",
        status=TaskStatus.processing,
        session_id=conv.session_id,
        conversation_id=conv.id,
        message_id=msg.id,
    )


_STATES = {
    "queued": TaskStatus.pending,
    "running": TaskStatus.processing,
    "succeeded": TaskStatus.success,
    "dead": TaskStatus.failure,
    "discarded": TaskStatus.failure,
    "failed": TaskStatus.failure,
}


def _task_id(task_id: str) -> int:
    if not re.fullmatch(r"[0-9]{1,18}", task_id):  # ASCII digits only ("²".isdigit() is True)
        raise NotFound(f"task {task_id} not found")
    return int(task_id)


async def status(session: AsyncSession, principal: Principal, task_id: str) -> ChatStatus:
    """Where a queued message is; the reply and its actions once answered."""
    missing = NotFound(f"task {task_id} not found")
    try:
        job = await jobs_service.get(session, principal, _task_id(task_id))
    except NotFound:
        raise missing from None
    args: dict[str, Any] = job.args or {}
    if job.name != CHAT_JOB or "conversation_id" not in args:
        raise missing
    conv = await ConversationRepo.from_session(session, principal).find_by_id(
        int(args["conversation_id"])
    )
    if conv is None:  # another user's (or key's) conversation, or one deleted since
        raise missing
    state = jobs_service.to_out(job).status.value
    out = ChatStatus(
        task_id=task_id,
        status=_STATES.get(state, TaskStatus.pending),
        session_id=conv.session_id,
        conversation_id=conv.id,
    )
    if out.status is TaskStatus.success:
        messages = MessageRepo.from_session(session, principal)
        reply = await messages.reply_to(conv.id, int(args["message_id"]))
        if reply is not None:  # None: the conversation was cleared since
            undone = await ActionRepo.from_session(session, principal).undone_ids(conv.id)
            message = engine.message_out(reply, undone)
            out.result = TurnResult(message=message, actions=message.actions)
    elif out.status is TaskStatus.failure:
        out.error = _first_line(job.last_error) or "The assistant could not answer this message."
    return out


def _first_line(error: str | None) -> str:
    """The user-facing part of a job's error: a refusal's own words, never a traceback."""
    line = (error or "").strip().splitlines()[0] if error and error.strip() else ""
    if line.startswith("PermanentError: "):
        return line.removeprefix("PermanentError: ")[:500]
    return "The assistant failed to answer this message (the error is logged)." if line else ""


async def history(session: AsyncSession, principal: Principal, session_id: str | None) -> History:
    """The conversation's messages, oldest first (at most the memory bound)."""
    sid = session_id or DEFAULT_SESSION
    limit = engine.memory_limit()
    conv = await ConversationRepo.from_session(session, principal).find(sid)
    if conv is None:
        return History(session_id=sid, limit=limit)
    rows = await MessageRepo.from_session(session, principal).recent(conv.id, limit=limit)
    undone = await ActionRepo.from_session(session, principal).undone_ids(conv.id)
    pending = conv.pending or {}
    return History(
        session_id=sid,
        conversation_id=conv.id,
        messages=[engine.message_out(m, undone) for m in rows],
        awaiting=pending.get("kind"),
        busy=_busy(conv, utcnow()),
        limit=limit,
    )


async def clear(session: AsyncSession, principal: Principal, session_id: str | None) -> Cleared:
    """Forget the conversation's messages and any question waiting for an answer (the changes
    made stay undoable)."""
    sid = session_id or DEFAULT_SESSION
    conv = await ConversationRepo.from_session(session, principal).find(sid, for_update=True)
    if conv is None:
        return Cleared(cleared=0, session_id=sid)
    if _busy(conv, utcnow()):  # the running turn still writes its reply into this conversation
        raise Conflict(
            "The assistant is still answering a message of this conversation; clear after it"
        )
    n = await MessageRepo.from_session(session, principal).clear(conv.id)
    conv.pending = None
    conv.message_count = 0
    conv.title = ""
    return Cleared(cleared=n, session_id=sid, conversation_id=conv.id)


async def undo(session: AsyncSession, principal: Principal, session_id: str | None) -> UndoOut:
    """Reverse the conversation's last change that can still be undone."""
    sid = session_id or DEFAULT_SESSION
    conv = await ConversationRepo.from_session(session, principal).find(sid, for_update=True)
    if conv is None:
        raise NotFound(f"no conversation with session_id {sid!r}")
    if _busy(conv, utcnow()):
        raise Conflict(
            "The assistant is still answering a message of this conversation; undo after it"
        )
    messages = MessageRepo.from_session(session, principal)
    reply = AssistantMessage(conversation_id=conv.id, role="assistant", content="", status="done")
    await messages.add(reply)
    tz = await ConversationRepo.from_session(session, principal).timezone()
    turn = engine.Turn(
        principal=engine.chat_principal(principal, conv.id, reply.id),
        conversation_id=conv.id,
        message_id=reply.id,
        timezone=tz,
        now=datetime.now(engine.zone(tz)),
    )
    rows = await engine.undo_last(session, turn)
    if not rows:
        raise Conflict(turn.text(), errors=[{"field": "session_id", "message": "nothing to undo"}])
    reply.content = turn.text()
    reply.tool_calls = turn.calls
    reply.provider = "undo"
    conv.pending = None
    conv.last_message_at = utcnow()
    await messages.prune(conv.id, engine.memory_limit())
    conv.message_count = await messages.count(conv.id)
    await session.flush()
    undone = await ActionRepo.from_session(session, principal).undone_ids(conv.id)
    return UndoOut(
        undone=[engine.card_of(r, undone=True) for r in rows],
        summary=reply.content,
        message=engine.message_out(reply, undone),
    )
