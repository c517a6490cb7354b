"""Server-sent events for `POST /api/v1/chat/stream`.

Events: `action` (a card, as soon as its change is committed), `text` (`{"delta": …}` pieces of
the reply), `question` (when the reply asks back), `done` (`{"message": …}` the stored reply),
`error` (a problem+json body). The turn runs in its own task: a client that disconnects does
not cut a turn in half, its reply is in the history.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from aicrm.assistant import engine
from aicrm.assistant.schemas import ChatAccepted
from aicrm.db import Database
from aicrm.errors import AICRMError
from aicrm.kit.principal import Principal
from aicrm.logging import get_logger

log = get_logger("aicrm.assistant")

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_RUNNING: set[asyncio.Task[Any]] = set()
_END = object()


def frame(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str, ensure_ascii=False)}\n\n"


def problem(exc: BaseException, instance: str) -> dict[str, Any]:
    if isinstance(exc, AICRMError):
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": exc.title,
            "status": exc.status,
            "detail": exc.message,
            "instance": instance,
        }
        if exc.errors:
            body["errors"] = exc.errors
        return body
    return {
        "type": "about:blank",
        "title": "Internal error",
        "status": 500,
        "detail": "The assistant failed to answer; it is logged.",
        "instance": instance,
    }


async def events(
    db: Database, principal: Principal, accepted: ChatAccepted, instance: str
) -> AsyncIterator[str]:
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def emit(event: str, data: dict[str, Any]) -> None:
        await queue.put((event, data))

    async def turn() -> None:
        try:
            result = await engine.run_turn(
                db, principal, accepted.conversation_id, accepted.message_id, emit=emit
            )
            await queue.put(
                (
                    "done",
                    {
                        "message": result.message.model_dump(mode="json"),
                        "actions": [a.model_dump(mode="json") for a in result.actions],
                        "session_id": accepted.session_id,
                        "conversation_id": accepted.conversation_id,
                    },
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported to the client as an error event
            if not isinstance(exc, AICRMError):
                log.error("assistant_stream_failed", exc_info=exc)
            await engine.fail(
                db,
                principal,
                accepted.conversation_id,
                accepted.message_id,
                f"{type(exc).__name__}: {exc}",
            )
            await queue.put(("error", problem(exc, instance)))
        finally:
            await queue.put(_END)

    task = asyncio.create_task(turn(), name=f"assistant-stream-{accepted.message_id}")
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    ended = False
    while not ended:
        items = [await queue.get()]
        while not queue.empty():  # what is ready goes out in one write
            items.append(queue.get_nowait())
        chunk = []
        for item in items:
            if item is _END:
                ended = True
                break
            chunk.append(frame(*item))
        if chunk:
            yield "".join(chunk)
