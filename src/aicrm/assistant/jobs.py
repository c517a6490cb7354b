"""`assistant.chat`: answer one queued chat message (POST /api/v1/chat).

The job acts as the user who sent the message (their role as it is now), never as the
organization's system principal. It runs once: a turn that failed half-way is not replayed
behind the user's back (they see FAILURE and may send the message again), not even when an
administrator retries the dead job. The reply is stored
in the job's own transaction, so it commits with the job's completion — with the changes too
for an offline turn (a model's steps commit one by one, between slow model calls) — and a
re-run of an answered message returns the stored reply. The job's result names the reply
only: its text is the user's, not something the jobs page shows to administrators.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aicrm.assistant import engine, repository
from aicrm.assistant.service import CHAT_JOB
from aicrm.errors import AICRMError
from aicrm.jobs import JobContext, PermanentError, job
from aicrm.kit.principal import Principal, Role
from aicrm.logging import get_logger

log = get_logger("aicrm.assistant")


@job(CHAT_JOB, max_attempts=1, timeout=engine.BUSY_SECONDS)
async def chat(
    ctx: JobContext,
    conversation_id: int,
    message_id: int,
    user_id: int | None = None,
    api_key_id: int | None = None,
    ip: str | None = None,
) -> dict[str, Any]:
    """Answer the message; `GET /api/v1/chat/status/{task_id}` shows the stored reply."""
    if ctx.organization_id is None:
        raise PermanentError("a chat message belongs to an organization")
    async with ctx.read() as session:
        try:
            principal: Principal = await repository.principal_for(
                session,
                organization_id=ctx.organization_id,
                user_id=user_id,
                api_key_id=api_key_id,
            )
        except AICRMError as exc:
            refused = exc
        else:
            refused = None
    if refused is not None:
        # no longer a member (or the key was revoked): the message is refused, the
        # conversation freed; the bare principal only finds the caller's own conversation
        caller = Principal(
            organization_id=ctx.organization_id,
            role=Role.viewer,
            user_id=user_id,
            api_key_id=api_key_id,
        )
        await engine.fail(ctx.db, caller, conversation_id, message_id, refused.message)
        raise PermanentError(refused.message) from refused
    if ip:
        principal = replace(principal, ip=ip)
    try:
        result = await engine.run_turn(
            ctx.db, principal, conversation_id, message_id, final=ctx.session
        )
    except engine.NotRunAgain as exc:  # a retried job of a failed turn: left as it failed
        raise PermanentError(exc.message) from exc
    except Exception as exc:
        if not isinstance(exc, AICRMError):
            log.error("assistant_turn_failed", exc_info=exc, conversation_id=conversation_id)
        # nothing of the turn's own transaction stays (and on SQLite its write lock goes, so
        # the failure can be recorded in another)
        await ctx.rollback()
        await engine.fail(
            ctx.db, principal, conversation_id, message_id, f"{type(exc).__name__}: {exc}"
        )
        if isinstance(exc, AICRMError):
            raise PermanentError(exc.message) from exc
        raise
    # the reply stays in the user's conversation: administrators read jobs, not conversations
    return {"conversation_id": conversation_id, "reply_id": result.message.id}
