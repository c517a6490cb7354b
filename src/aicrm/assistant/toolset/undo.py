"""Undo one `Action` a tool took, through the same services (the engine calls `undo`).

- created   → the record is deleted again (refused if it was edited since: that edit would be
              lost silently);
- scheduled → the booking's meeting and task, or the sequence's unfinished tasks, are deleted;
- updated / moved / assigned → the fields go back to `before` (refused when someone changed
              them since, naming the fields);
- deleted   → the record is created again from the snapshot (a new id), with its tags,
              timeline and the links of the records that pointed at it; what cannot come back
              is said plainly.

Undoing asks for the write permission only: deleting what the same conversation just created is
taking back one's own step, not deleting a colleague's record (a viewer can undo nothing, since
it could do nothing).
"""

from __future__ import annotations

from typing import Any

from aicrm.activities import service as activity_service
from aicrm.assistant.tools import Action, ToolContext, ToolResult
from aicrm.assistant.toolset import common as c
from aicrm.assistant.toolset.records import (
    DELETE,
    MEMBER_FIELDS,
    apply_update,
    field_name,
    shown,
)
from aicrm.assistant.toolset.snapshots import restore
from aicrm.deals import service as deal_service
from aicrm.deals.schemas import DealMove
from aicrm.errors import AICRMError, Invalid, NotFound, PermissionDenied
from aicrm.kit.principal import Permission
from aicrm.leads import service as lead_service
from aicrm.leads.schemas import LeadMove
from aicrm.tasks import service as task_service

RECORDS = ("lead", "contact", "company", "deal", "task")
# positions shift whenever a neighbouring card moves: not a sign of someone's edit
VOLATILE = {"card_order"}
DEAL_MOVE_KEYS = {"stage", "stage_id", "card_order", "won_lost_reason", "status"}
LEAD_MOVE_KEYS = {"status", "card_order"}


async def undo(ctx: ToolContext, action: Action) -> ToolResult:
    """Reverse one action; a failure changes nothing (own savepoint)."""
    if not action.undoable or action.op == "read":
        return ToolResult("unsupported", summary=f"{action.label} cannot be undone.")
    if not ctx.principal.can(Permission.write):
        return ToolResult(
            "denied", summary=f"Your role ({ctx.principal.role}) may not change records."
        )
    try:
        async with ctx.session.begin_nested():
            return await _undo(ctx, action)
    except c.NeedsInput as exc:
        return exc.result
    except PermissionDenied as exc:
        return ToolResult("denied", summary=exc.message)
    except NotFound as exc:
        return ToolResult("not_found", summary=exc.message)
    except Invalid as exc:
        result = c.invalid(exc)
        result.summary = f"Could not undo: {result.summary}"
        return result
    except AICRMError as exc:
        return ToolResult("invalid", summary=f"Could not undo: {exc.message}")


async def _undo(ctx: ToolContext, action: Action) -> ToolResult:
    if action.op == "created":
        return await _uncreate(ctx, action)
    if action.op == "scheduled":
        return await _unschedule(ctx, action)
    if action.op in ("updated", "moved", "assigned"):
        return await _restore_fields(ctx, action)
    if action.op == "deleted":
        return await _undelete(ctx, action)
    return ToolResult("unsupported", summary=f"I do not know how to undo “{action.op}”.")


def _gone(action: Action) -> ToolResult:
    return ToolResult(
        "not_found", summary=f"{action.label} no longer exists; there is nothing to undo."
    )


async def _uncreate(ctx: ToolContext, action: Action) -> ToolResult:
    s, p = ctx.session, ctx.principal
    if action.entity_id is None:
        return _gone(action)
    if action.entity_type == "activity":
        try:
            await activity_service.get(s, p, action.entity_id)
        except NotFound:
            return _gone(action)
        await activity_service.delete(s, p, action.entity_id)
        return ToolResult(
            "ok",
            summary=f"Undone: removed {action.label}.",
            data={"deleted": {"activity": action.entity_id}},
        )
    if action.entity_type not in RECORDS:
        return ToolResult("unsupported", summary=f"{action.label} cannot be undone.")
    try:
        obj = await c.GETTERS[action.entity_type](s, p, action.entity_id)
    except NotFound:
        return _gone(action)
    version = (action.after or {}).get("version")
    if version is not None and getattr(obj, "version", version) != version:
        return ToolResult(
            "invalid",
            summary=f"{action.label} was changed after it was created, so I did not delete it; "
            "delete it yourself if you are sure.",
        )
    title = await c.titled(ctx, action.entity_type, obj)
    await DELETE[action.entity_type](s, p, action.entity_id)
    return ToolResult(
        "ok",
        summary=f"Undone: deleted {title}, which had just been created.",
        data={"deleted": {action.entity_type: action.entity_id}},
        actions=[
            Action("deleted", action.entity_type, action.entity_id, c.cap(title), undoable=False)
        ],
    )


async def _unschedule(ctx: ToolContext, action: Action) -> ToolResult:
    s, p = ctx.session, ctx.principal
    after = action.after or {}
    removed: list[str] = []
    kept: list[str] = []
    if after.get("activity_id") is not None:
        try:
            await activity_service.get(s, p, after["activity_id"])
            await activity_service.delete(s, p, after["activity_id"])
            removed.append("the meeting")
        except NotFound:
            pass
    task_ids = list(after.get("task_ids") or [])
    if after.get("task_id") is not None:
        task_ids.append(after["task_id"])
    for task_id in reversed(task_ids):  # the chain's last first: nothing waits on it
        try:
            task = await task_service.get(s, p, task_id)
        except NotFound:
            continue
        if task.status == "done":
            kept.append(f"task #{task_id} (already done)")
            continue
        await task_service.delete(s, p, task_id)
        removed.append(f"task #{task_id}")
    if not removed:
        return _gone(action)
    text = f"Undone: {action.label} — removed {', '.join(reversed(removed))}"
    if kept:
        text += f"; kept {', '.join(kept)}"
    return ToolResult("ok", summary=text + ".", data={"removed": removed, "kept": kept})


def _norm(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(float(value), 2)
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


async def _restore_fields(ctx: ToolContext, action: Action) -> ToolResult:
    s, p = ctx.session, ctx.principal
    entity = action.entity_type
    before = dict(action.before or {})
    if entity not in RECORDS or action.entity_id is None or not before:
        return ToolResult("unsupported", summary=f"{action.label} cannot be undone.")
    try:
        obj = await c.GETTERS[entity](s, p, action.entity_id)
    except NotFound:
        return _gone(action)
    current = await c.out_one(ctx, entity, obj)
    after = action.after or {}
    changed = [
        k
        for k, v in after.items()
        if k not in VOLATILE and k in current and _norm(current[k]) != _norm(v)
    ]
    if changed:
        return ToolResult(
            "invalid",
            summary=f"{action.label} was changed again since ({', '.join(changed)}), so I did "
            "not undo it: that would overwrite the newer change.",
        )
    rest = dict(before)
    if entity == "lead" and "status" in before:
        for k in LEAD_MOVE_KEYS:
            rest.pop(k, None)
        move = LeadMove(status=before["status"], card_order=before.get("card_order"))
        await lead_service.move(s, p, obj.id, move)
    elif entity == "deal" and "stage_id" in before:
        for k in DEAL_MOVE_KEYS:
            rest.pop(k, None)
        fields: dict[str, Any] = {
            "stage_id": before["stage_id"],
            "card_order": before.get("card_order"),
        }
        if before.get("won_lost_reason") is not None or before.get("status") == "lost":
            fields["won_lost_reason"] = before.get("won_lost_reason")
        await deal_service.move(s, p, obj.id, c.build(DealMove, **fields))
    else:
        rest.pop("card_order", None)
        if entity == "deal":
            rest.pop("status", None)
    if rest:
        await apply_update(ctx, entity, obj.id, rest)
    restored = await c.GETTERS[entity](s, p, obj.id)
    title = await c.titled(ctx, entity, restored)
    now = await c.out_one(ctx, entity, restored)
    keys = [k for k in before if k not in VOLATILE and k != "stage_id"]
    names = await c.member_names(ctx) if MEMBER_FIELDS & set(keys) else {}
    text = "; ".join(
        [
            f"{field_name(k)} back to {await shown(ctx, k, now.get(k, before[k]), names)}"
            for k in keys
        ]
    )
    return ToolResult(
        "ok",
        summary=f"Undone: {title}: {text}.",
        data={"entity": entity, "id": obj.id, "restored": {k: now.get(k) for k in before}},
        actions=[
            Action(
                "updated",
                entity,
                obj.id,
                c.cap(title),
                link=c.link(entity, obj.id),
                before=after,
                after={k: now.get(k) for k in before},
                undoable=False,
            )
        ],
    )


async def _undelete(ctx: ToolContext, action: Action) -> ToolResult:
    entity = action.entity_type
    snap = action.before or {}
    if entity not in RECORDS or not snap:
        return ToolResult("unsupported", summary=f"{action.label} cannot be restored.")
    obj, back, lost = await restore(ctx, entity, snap)
    title = await c.titled(ctx, entity, obj)
    text = f"Undone: restored {title}"
    if obj.id != snap.get("id"):
        text += f" under a new id (it was #{snap.get('id')})"
    if back:
        text += f", with {', '.join(back)}"
    text += "."
    if lost:
        text += f" Not restored: {'; '.join(lost)}."
    return ToolResult(
        "ok",
        summary=text,
        data={"entity": entity, "id": obj.id, "previous_id": snap.get("id"), "lost": lost},
        actions=[
            Action(
                "created",
                entity,
                obj.id,
                c.cap(title),
                link=c.link(entity, obj.id),
                after={"version": getattr(obj, "version", None)},
                undoable=False,
            )
        ],
    )
