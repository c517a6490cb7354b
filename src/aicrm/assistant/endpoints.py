"""The chat API: talk to the assistant, which operates the CRM through its tools.

A conversation belongs to the caller (user, or API key) within the active organization, per
`session_id` ("default" when omitted). Tools run with the caller's own permissions: a viewer
may ask and read, not change or delete.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import StreamingResponse

from aicrm.assistant import service, stream
from aicrm.assistant.schemas import (
    SESSION_PATTERN,
    ChatAccepted,
    ChatIn,
    ChatStatus,
    Cleared,
    History,
    SessionIn,
    UndoOut,
)
from aicrm.auth.deps import Reader, Session
from aicrm.db import TxRoute

router = APIRouter(prefix="/api/v1/chat", tags=["assistant"], route_class=TxRoute)


@router.post("", response_model=ChatAccepted, status_code=status.HTTP_202_ACCEPTED)
async def send_message(data: ChatIn, principal: Reader, session: Session) -> ChatAccepted:
    """Send a message; the answer is computed in the background (job `assistant.chat`):
    poll `GET /api/v1/chat/status/{task_id}`."""
    return await service.send(session, principal, data)


@router.get("/status/{chat_task_id}", response_model=ChatStatus)
async def task_status(
    chat_task_id: Annotated[str, Path(description="The `task_id` POST /api/v1/chat returned")],
    principal: Reader,
    session: Session,
) -> ChatStatus:
    """PENDING, PROCESSING, SUCCESS (with the reply and the actions taken) or FAILURE."""
    return await service.status(session, principal, chat_task_id)


@router.post(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_message(
    data: ChatIn, principal: Reader, session: Session, request: Request
) -> StreamingResponse:
    """Send a message and receive the answer as server-sent events: `action`, `text`
    (`{"delta"}`), `question`, `done` (`{"message"}`) or `error` (problem+json)."""
    accepted = await service.start_stream(session, principal, data)
    # the message is committed by the route before the body streams; the turn has its own
    # transactions
    return StreamingResponse(
        stream.events(request.app.state.db, principal, accepted, request.url.path),
        media_type="text/event-stream",
        headers=stream.HEADERS,
    )


@router.get("/history", response_model=History)
async def chat_history(
    principal: Reader,
    session: Session,
    session_id: Annotated[str | None, Query(pattern=SESSION_PATTERN)] = None,
) -> History:
    """The conversation's messages, oldest first (bounded: older ones are pruned)."""
    return await service.history(session, principal, session_id)


@router.post("/clear", response_model=Cleared)
async def clear_chat(principal: Reader, session: Session, data: SessionIn | None = None) -> Cleared:
    """Forget the conversation's messages (the CRM changes stay, and stay undoable)."""
    return await service.clear(session, principal, data.session_id if data else None)


@router.post("/undo", response_model=UndoOut)
async def undo_last(principal: Reader, session: Session, data: SessionIn | None = None) -> UndoOut:
    """Undo the conversation's last change (every record of that action); 409 when there is
    nothing left to undo."""
    return await service.undo(session, principal, data.session_id if data else None)
