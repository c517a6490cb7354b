"""What a delete takes with it, and how undo brings it back.

`gather` snapshots a record before it is deleted: its row, its tags, the activities that die
with it (the timeline rows reference it ON DELETE CASCADE), the records that merely point at it
(their reference is set to NULL) and, for a task, its comments and dependencies. `restore`
creates the record again through the services from that snapshot (it gets a new id), recreates
the activities, re-points the records that pointed at it, and reports what it could not bring
back (references to records that are gone since, fields a service does not accept)."""

from __future__ import annotations

from typing import Any

from aicrm.activities import service as activity_service
from aicrm.activities.schemas import ActivityCreate
from aicrm.assistant.tools import ToolContext
from aicrm.assistant.toolset import common as c
from aicrm.companies import service as company_service
from aicrm.companies.schemas import CompanyCreate, CompanyUpdate
from aicrm.contacts import service as contact_service
from aicrm.contacts.schemas import ContactCreate, ContactStatus, ContactUpdate
from aicrm.deals import service as deal_service
from aicrm.deals.schemas import DealCreate, DealUpdate
from aicrm.errors import Conflict, Invalid, NotFound
from aicrm.kit.snapshot import snapshot
from aicrm.leads import service as lead_service
from aicrm.leads.schemas import LeadCreate, LeadUpdate
from aicrm.orgs import service as org_service
from aicrm.tags import service as tags
from aicrm.tasks import service as task_service
from aicrm.tasks.schemas import CommentCreate, TaskCreate, TaskUpdate

ACTIVITY_CAP = 500
LINK_CAP = 1000
COMMENT_CAP = 500

LIST = {
    "lead": lead_service.list_leads,
    "contact": contact_service.list_contacts,
    "deal": deal_service.list_deals,
    "task": task_service.list_tasks,
}
UPDATE = {
    "lead": (lead_service.update, LeadUpdate),
    "contact": (contact_service.update, ContactUpdate),
    "company": (company_service.update, CompanyUpdate),
    "deal": (deal_service.update, DealUpdate),
    "task": (task_service.update, TaskUpdate),
}
# records whose reference to a deleted record becomes NULL (so undo can point them back)
POINTED_AT_BY = {
    "lead": ("task", "deal"),
    "contact": ("task", "deal", "lead"),
    "company": ("contact", "deal", "lead"),
    "deal": ("task",),
    "task": (),
}
CREATE_FIELDS = {
    "lead": (
        "name company email phone notes source value quality_score priority requirements "
        "timeline budget assignee_id contact_id company_id custom"
    ).split(),
    "contact": (
        "first_name last_name name email emails phone phones company_id title street city region "
        "postal_code country status lifetime_value churn_risk owner_id preferred_channel timezone "
        "notes custom"
    ).split(),
    "company": (
        "name domain website industry size annual_revenue phone street city region postal_code "
        "country description owner_id custom"
    ).split(),
    "deal": (
        "name pipeline_id stage_id amount currency expected_close_date owner_id contact_id "
        "company_id lead_id description won_lost_reason custom"
    ).split(),
    "task": (
        "title description status priority category assignee_id team_id due_at estimate_hours "
        "lead_id contact_id deal_id"
    ).split(),
}
REFS = {"contact_id": "contact", "company_id": "company", "lead_id": "lead", "deal_id": "deal"}
USERS = {"assignee_id", "owner_id", "user_id"}


async def gather(ctx: ToolContext, entity: str, obj: Any) -> dict[str, Any]:
    """A JSON-safe snapshot of `obj` and of what its deletion removes or unlinks."""
    s, p = ctx.session, ctx.principal
    snap = snapshot(obj)
    snap["_tags"] = (await tags.tags_for(s, p, entity, [obj.id])).get(obj.id, [])
    if entity in ("lead", "contact", "company", "deal"):
        rows, more = await activity_service.list_activities(
            s, p, {f"{entity}_id": obj.id}, sort="-occurred_at", cursor=None, limit=ACTIVITY_CAP
        )
        snap["_activities"] = [a.model_dump(mode="json") for a in rows]
        snap["_activities_truncated"] = more is not None
    links: dict[str, list[int]] = {}
    for other in POINTED_AT_BY[entity]:
        found, _ = await LIST[other](
            s, p, {f"{entity}_id": obj.id}, sort="id", cursor=None, limit=LINK_CAP
        )
        if found:
            links[other] = [r.id for r in found]
    snap["_links"] = links
    if entity == "task":
        shaped = (await task_service.to_out(s, p, [obj]))[0]
        snap["_blocked_by"] = list(shaped.blocked_by)
        snap["_blocks"] = list(shaped.blocks)
        comments, _ = await task_service.list_comments(s, p, obj.id, cursor=None, limit=COMMENT_CAP)
        snap["_comments"] = [
            {"body": cm.body, "author_id": cm.author_id, "created_at": cm.created_at.isoformat()}
            for cm in comments
        ]
    return snap


class _Exists:
    """Memoised "is it still there?" for the references of a snapshot."""

    def __init__(self, ctx: ToolContext) -> None:
        self.ctx = ctx
        self.seen: dict[tuple[str, int], bool] = {}

    async def __call__(self, kind: str, id_: Any) -> bool:
        if not isinstance(id_, int):
            return False
        key = (kind, id_)
        if key not in self.seen:
            s, p = self.ctx.session, self.ctx.principal
            try:
                if kind == "user":
                    await org_service.ensure_member(s, p, id_, field="user")
                elif kind == "team":
                    await org_service.get_team(s, p, id_)
                else:
                    await c.GETTERS[kind](s, p, id_)
                self.seen[key] = True
            except (NotFound, Invalid):
                self.seen[key] = False
        return self.seen[key]


async def _create_fields(
    ctx: ToolContext, entity: str, snap: dict[str, Any], exists: _Exists, lost: list[str]
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in CREATE_FIELDS[entity]:
        value = snap.get(key)
        if value is None:
            continue
        if key in REFS and not await exists(REFS[key], value):
            lost.append(f"its link to {REFS[key]} #{value} (deleted since)")
            continue
        if key in USERS and not await exists("user", value):
            lost.append(f"its {key.removesuffix('_id')} (user {value} left the organization)")
            continue
        if key == "team_id" and not await exists("team", value):
            lost.append(f"its team #{value} (deleted since)")
            continue
        fields[key] = value
    if entity == "lead":
        names = {st.id: st.name for st in await lead_service.statuses(ctx.session, ctx.principal)}
        if snap.get("status_id") in names:
            fields["status"] = names[snap["status_id"]]
            fields["card_order"] = snap.get("card_order")
    if entity == "contact" and fields.get("status") not in ContactStatus.__members__:
        fields.pop("status", None)
    if entity == "deal":
        pipelines = {
            pl.id: {st.id for st in pl.stages}
            for pl in await deal_service.list_pipelines(ctx.session, ctx.principal)
        }
        if fields.get("stage_id") not in pipelines.get(fields.get("pipeline_id"), set()):
            lost.append("its stage (removed since; it is back in the first stage)")
            fields.pop("stage_id", None)
            fields.pop("pipeline_id", None)
            fields.pop("won_lost_reason", None)
        else:
            fields["card_order"] = snap.get("card_order")
    if entity != "task" and snap.get("_tags"):
        fields["tags"] = snap["_tags"]
    return fields


async def _create(ctx: ToolContext, entity: str, fields: dict[str, Any]) -> Any:
    s, p = ctx.session, ctx.principal
    if entity == "lead":
        return await lead_service.create(s, p, c.build(LeadCreate, **fields))
    if entity == "contact":
        return await contact_service.create(s, p, c.build(ContactCreate, **fields))
    if entity == "company":
        return await company_service.create(s, p, c.build(CompanyCreate, **fields))
    if entity == "deal":
        return await deal_service.create(s, p, c.build(DealCreate, **fields))
    return await task_service.create(s, p, c.build(TaskCreate, **fields))


async def restore(
    ctx: ToolContext, entity: str, snap: dict[str, Any]
) -> tuple[Any, list[str], list[str]]:
    """Create the record again from its snapshot; (new row, what came back, what did not)."""
    s, p = ctx.session, ctx.principal
    exists = _Exists(ctx)
    lost: list[str] = []
    back: list[str] = []
    fields = await _create_fields(ctx, entity, snap, exists, lost)
    try:
        async with s.begin_nested():
            obj = await _create(ctx, entity, fields)
    except Invalid as exc:
        # custom field definitions may have changed since: keep the record, drop those values
        if "custom" not in fields or not any(
            str(e.get("field", "")).startswith("custom") for e in exc.errors
        ):
            raise
        fields.pop("custom")
        lost.append("its custom field values (no longer valid)")
        obj = await _create(ctx, entity, fields)
    new_id = obj.id

    acts = snap.get("_activities") or []
    restored = 0
    for a in reversed(acts):  # oldest first, as they were logged
        data: dict[str, Any] = {
            k: a.get(k)
            for k in ("type", "subject", "body", "direction", "outcome", "duration_minutes")
            if a.get(k) is not None
        }
        data["occurred_at"] = a["occurred_at"]
        if a.get("user_id") is not None and await exists("user", a["user_id"]):
            data["user_id"] = a["user_id"]
        for key, kind in REFS.items():
            ref = a.get(key)
            if kind == entity and ref == snap.get("id"):
                data[key] = new_id
            elif ref is not None and await exists(kind, ref):
                data[key] = ref
        await activity_service.create(s, p, c.build(ActivityCreate, **data))
        restored += 1
    if restored:
        back.append(f"{restored} {'activity' if restored == 1 else 'activities'}")
    if snap.get("_activities_truncated"):
        lost.append(f"activities beyond the latest {ACTIVITY_CAP}")

    field = f"{entity}_id"
    for other, ids in (snap.get("_links") or {}).items():
        relinked = 0
        update, schema = UPDATE[other]
        for other_id in ids:
            try:
                row = await c.GETTERS[other](s, p, other_id)
            except NotFound:
                continue
            if getattr(row, field, None) is not None:
                continue  # pointed elsewhere since: leave it
            await update(s, p, other_id, schema(**{field: new_id}))
            relinked += 1
        if relinked:
            back.append(f"the links of {relinked} {c.plural(other, relinked)}")

    if entity == "task":
        deps = 0
        edges = [(new_id, b) for b in snap.get("_blocked_by") or []]
        edges += [(w, new_id) for w in snap.get("_blocks") or []]
        for task_id, blocker in edges:
            other = blocker if task_id == new_id else task_id
            if not await exists("task", other):
                lost.append(f"its dependency on task #{other} (deleted since)")
                continue
            try:
                async with s.begin_nested():
                    await task_service.add_dependency(s, p, task_id, blocker)
                deps += 1
            except (Conflict, Invalid) as exc:
                lost.append(f"its dependency with task #{other} ({exc.message})")
        if deps:
            back.append(f"{deps} {'dependency' if deps == 1 else 'dependencies'}")
        comments = snap.get("_comments") or []
        for cm in comments:
            await task_service.add_comment(s, p, new_id, CommentCreate(body=cm["body"]))
        if comments:
            back.append(f"{len(comments)} comments (now posted by you)")
    return obj, back, lost
