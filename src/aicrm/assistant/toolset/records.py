"""Records: search, read, create, update, delete and assign leads, contacts, companies, deals
and tasks; log activities. Every write goes through the domain's service with the caller's
principal, so validation, audit, events and tenancy are exactly the REST API's."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Literal

from pydantic import Field

from aicrm.activities import service as activity_service
from aicrm.activities.schemas import ActivityCreate, TimelineOf
from aicrm.assistant import resolve
from aicrm.assistant.tools import Action, Option, ToolArgs, ToolContext, ToolResult
from aicrm.assistant.toolset import common as c
from aicrm.assistant.toolset.snapshots import gather
from aicrm.companies import service as company_service
from aicrm.companies.repository import CompanyRepo
from aicrm.companies.schemas import CompanyUpdate
from aicrm.contacts import service as contact_service
from aicrm.contacts.schemas import ContactCreate, ContactStatus, ContactUpdate
from aicrm.deals import service as deal_service
from aicrm.deals.schemas import DealUpdate
from aicrm.errors import Invalid
from aicrm.kit.principal import Permission
from aicrm.leads import service as lead_service
from aicrm.leads.schemas import LeadCreate, LeadUpdate
from aicrm.tasks import service as task_service
from aicrm.tasks.schemas import TaskCreate, TaskStatus, TaskUpdate

Entity = Literal["lead", "contact", "company", "deal", "task"]
Linkable = Literal["lead", "contact", "company", "deal"]

LIST = {
    "lead": lead_service.list_leads,
    "contact": contact_service.list_contacts,
    "company": company_service.list_companies,
    "deal": deal_service.list_deals,
    "task": task_service.list_tasks,
}
OWNER_FIELD = {
    "lead": "assignee_id",
    "contact": "owner_id",
    "company": "owner_id",
    "deal": "owner_id",
    "task": "assignee_id",
}
COMPACT = {
    "lead": (
        "id name company email phone status value source assignee_id last_contacted_at".split()
    ),
    "contact": "id name email phone company_id title status owner_id last_activity_at".split(),
    "company": "id name domain industry city country owner_id".split(),
    "deal": (
        "id name pipeline stage status amount currency expected_close_date owner_id "
        "contact_id company_id"
    ).split(),
    "task": (
        "id title status priority due_at overdue assignee_id lead_id contact_id deal_id".split()
    ),
}
FUZZY = {"lead", "contact", "company", "deal"}


def compact(entity: str, item: dict[str, Any]) -> dict[str, Any]:
    keep = {k: item.get(k) for k in COMPACT[entity] if k in item}
    keep["link"] = c.link(entity, item["id"])
    return keep


async def line(ctx: ToolContext, entity: str, item: dict[str, Any]) -> str:
    """One search hit as a short fact line."""
    if entity == "lead":
        who = (
            f"{item['name']} ({item['company']}, #{item['id']})"
            if item.get("company")
            else (f"{item['name']} (#{item['id']})")
        )
        return f"{who}: {item['status']}, {await c.money(ctx, item.get('value'))}"
    if entity == "contact":
        extra = ", ".join(str(v) for v in (item.get("status"), item.get("email")) if v)
        return f"{item['name']} (#{item['id']}): {extra}"
    if entity == "company":
        return f"{item['name']} (#{item['id']})"
    if entity == "deal":
        amount = await c.money(ctx, item.get("amount"), item.get("currency"))
        return f"{item['name']} (#{item['id']}): {item['stage']}, {amount}"
    due = item.get("due_at")
    when = ""
    if due:
        when = f", due {await c.local_text(ctx, datetime.fromisoformat(due))}"
    late = " (overdue)" if item.get("overdue") else ""
    return f"{item['title']} (#{item['id']}): {item['status']}{when}{late}"


# -- search_records ----------------------------------------------------------------------------


class SearchArgs(ToolArgs):
    entity: Literal["lead", "contact", "company", "deal", "task", "ticket"]
    query: str | None = Field(
        default=None,
        max_length=200,
        description="Words in the name (title for tasks), company, email",
    )
    status: str | None = Field(
        default=None,
        max_length=80,
        description="Lead status, contact status, deal status (open/won/lost) or stage, task "
        "status (todo/in_progress/blocked/done/open/overdue)",
    )
    owner: c.Ref | None = Field(
        default=None, description="Owner or assignee: id, name, email or 'me'"
    )
    tag: str | None = Field(default=None, max_length=60)
    limit: int = Field(default=10, ge=1, le=50)


async def _status_filter(ctx: ToolContext, args: SearchArgs, params: dict[str, Any]) -> None:
    raw = (args.status or "").strip()
    key = raw.lower().replace(" ", "_").replace("-", "_")
    if args.entity == "lead":
        params["status"] = await c.lead_status(ctx, raw, arg="status", args=args)
    elif args.entity == "contact":
        if key not in ContactStatus.__members__:
            raise Invalid(
                f"status: a contact's status is one of {[s.value for s in ContactStatus]}",
                field="status",
            )
        params["status"] = key
    elif args.entity == "company":
        raise Invalid("status: companies have no status", field="status")
    elif args.entity == "deal":
        if key in ("open", "won", "lost"):
            params["status"] = key
        else:
            params["stage_id"] = str((await c.pick(ctx, "stage", raw, arg="status", args=args)).id)
    elif args.entity == "task":
        if key in TaskStatus.__members__:
            params["status"] = key
        elif key in ("open", "not_done", "pending", "unfinished"):
            params["status__ne"] = TaskStatus.done.value
        elif key in ("overdue", "late"):
            params["overdue"] = "true"
        else:
            raise Invalid(
                "status: a task's status is todo, in_progress, blocked, done, open or overdue",
                field="status",
            )


@c.register(
    "search_records",
    "Find leads, contacts, companies, deals or tasks by words in their name, status, owner or "
    "tag. Returns up to `limit` records (newest first) with their ids.",
)
async def search_records(ctx: ToolContext, args: SearchArgs) -> ToolResult:
    if args.entity == "ticket":
        return ToolResult(
            "unsupported",
            summary="This CRM has no support tickets yet, so there are no tickets to search.",
        )
    entity = args.entity
    params: dict[str, Any] = {}
    if args.query:
        params["q"] = args.query
    if args.tag:
        params["tag"] = args.tag
    if args.owner is not None:
        params[OWNER_FIELD[entity]] = str(await c.member(ctx, args.owner, arg="owner", args=args))
    if args.status:
        await _status_filter(ctx, args, params)
    rows, _ = await LIST[entity](
        ctx.session, ctx.principal, params, sort="-created_at", cursor=None, limit=args.limit
    )
    items = [r.model_dump(mode="json") for r in rows]
    fuzzy = False
    if not items and args.query and entity in FUZZY and len(params) == 1:
        # nothing contains the words: offer the closest names instead (indexed fuzzy matching)
        matches = await resolve.find(
            ctx.session, ctx.principal, entity, args.query, limit=args.limit
        )
        if matches:
            order = {m.id: i for i, m in enumerate(matches)}
            found, _ = await LIST[entity](
                ctx.session,
                ctx.principal,
                {"id__in": ",".join(str(m.id) for m in matches)},
                sort="id",
                cursor=None,
                limit=len(matches),
            )
            items = sorted((r.model_dump(mode="json") for r in found), key=lambda d: order[d["id"]])
            fuzzy = True
    what = c.PLURALS[entity]
    if not items:
        return ToolResult(
            "ok", summary=f"No {what} match.", data={"entity": entity, "count": 0, "items": []}
        )
    lines = [await line(ctx, entity, i) for i in items]
    head = (
        f"No {c.plural(entity, 2)} contain {args.query!r}; the closest names are: "
        if fuzzy
        else f"Found {len(items)} {c.plural(entity, len(items))}"
        + (" (the newest first; there may be more)" if len(items) == args.limit else "")
        + ": "
    )
    return ToolResult(
        "ok",
        summary=head + c.joined(lines),
        data={
            "entity": entity,
            "count": len(items),
            "fuzzy": fuzzy,
            "items": [compact(entity, i) for i in items],
        },
    )


# -- get_record ------------------------------------------------------------------------------


class GetArgs(ToolArgs):
    entity: Entity
    record: c.Ref


@c.register(
    "get_record",
    "Show one lead, contact, company, deal or task with all its fields and its latest activities.",
)
async def get_record(ctx: ToolContext, args: GetArgs) -> ToolResult:
    obj = await c.record(ctx, args.entity, args.record, arg="record", args=args)
    data = await c.out_one(ctx, args.entity, obj)
    if args.entity != "task":
        recent, _ = await activity_service.timeline(
            ctx.session, ctx.principal, TimelineOf(args.entity), obj.id, cursor=None, limit=5
        )
        data["recent_activities"] = [
            {
                "type": a.type.value,
                "subject": a.subject,
                "occurred_at": a.occurred_at.isoformat(),
                "direction": a.direction.value if a.direction else None,
            }
            for a in recent
        ]
    title = await c.titled(ctx, args.entity, obj)
    return ToolResult(
        "ok",
        summary=f"{c.cap(title)}.",
        data=data,
        actions=[
            Action(
                "read",
                args.entity,
                obj.id,
                c.cap(title),
                link=c.link(args.entity, obj.id),
                undoable=False,
            )
        ],
    )


# -- create_lead ---------------------------------------------------------------------------


class CreateLeadArgs(ToolArgs):
    name: c.Name
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    value: float | None = Field(default=None, ge=0, le=1e13, description="Expected value")
    source: str | None = Field(default=None, max_length=60, description="e.g. website, referral")
    status: str | None = Field(default=None, max_length=60, description="A lead status of the org")
    notes: str | None = Field(default=None, max_length=20000)
    assignee: c.Ref | None = Field(default=None, description="Member: id, name, email or 'me'")


async def created(ctx: ToolContext, entity: str, obj: Any) -> Action:
    return Action(
        "created",
        entity,
        obj.id,
        c.cap(await c.titled(ctx, entity, obj)),
        link=c.link(entity, obj.id),
        after={"version": getattr(obj, "version", None)},
    )


@c.register(
    "create_lead",
    "Add a lead (a potential customer) to the pipeline; it lands in the first status unless "
    "`status` is given.",
    permission=Permission.write,
    mutating=True,
)
async def create_lead(ctx: ToolContext, args: CreateLeadArgs) -> ToolResult:
    fields = args.model_dump(exclude_none=True, exclude={"assignee", "status"})
    if args.status:
        fields["status"] = await c.lead_status(ctx, args.status, arg="status", args=args)
    if args.assignee is not None:
        fields["assignee_id"] = await c.member(ctx, args.assignee, arg="assignee", args=args)
    lead = await lead_service.create(ctx.session, ctx.principal, c.build(LeadCreate, **fields))
    item = await c.out_one(ctx, "lead", lead)
    facts = [f"in {item['status']}"]
    if args.value is not None:
        facts.append(f"value {await c.money(ctx, lead.value)}")
    if lead.source:
        facts.append(f"source {lead.source}")
    if lead.assignee_id is not None:
        facts.append(f"assigned to {(await c.member_names(ctx)).get(lead.assignee_id, '?')}")
    return ToolResult(
        "ok",
        summary=f"Created lead {await c.label(ctx, 'lead', lead)} {', '.join(facts)}.",
        data=compact("lead", item),
        actions=[await created(ctx, "lead", lead)],
    )


# -- create_contact ------------------------------------------------------------------------


class CreateContactArgs(ToolArgs):
    name: c.Name
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(
        default=None, max_length=200, description="Company name (found, or created if new)"
    )
    title: str | None = Field(default=None, max_length=120, description="Job title")
    status: Literal["lead", "prospect", "customer", "churned", "inactive"] | None = None


@c.register(
    "create_contact",
    "Add a contact (a person); `company` links an existing company of that name or creates it. "
    "A contact with the same email or phone already existing is refused.",
    permission=Permission.write,
    mutating=True,
)
async def create_contact(ctx: ToolContext, args: CreateContactArgs) -> ToolResult:
    fields = args.model_dump(exclude_none=True, exclude={"company"})
    if args.company:
        fields["company_name"] = args.company
    contact = await contact_service.create(
        ctx.session, ctx.principal, c.build(ContactCreate, **fields)
    )
    action = await created(ctx, "contact", contact)
    return ToolResult(
        "ok",
        summary=f"Created contact {await c.label(ctx, 'contact', contact)}.",
        data=compact("contact", await c.out_one(ctx, "contact", contact)),
        actions=[action],
    )


# -- create_task ---------------------------------------------------------------------------


class CreateTaskArgs(ToolArgs):
    title: str = Field(min_length=1, max_length=300)
    due: str | None = Field(
        default=None,
        max_length=60,
        description="YYYY-MM-DD (end of that day) or YYYY-MM-DDTHH:MM, organization's time zone",
    )
    priority: Literal["low", "medium", "high", "urgent"] | None = None
    assignee: c.Ref | None = Field(default=None, description="Member; the caller if omitted")
    related_entity: Linkable | None = None
    related: c.Ref | None = Field(default=None, description="The related record: id or name")
    description: str | None = Field(default=None, max_length=20000)


TASK_LINK = {"lead": "lead_id", "contact": "contact_id", "deal": "deal_id"}


@c.register(
    "create_task",
    "Create a to-do (a reminder) for the caller or another member, optionally due at a date and "
    "linked to a lead, contact or deal (a company is named in the description: tasks do not "
    "link to companies).",
    permission=Permission.write,
    mutating=True,
)
async def create_task(ctx: ToolContext, args: CreateTaskArgs) -> ToolResult:
    if args.related is not None and args.related_entity is None:
        raise Invalid(
            "related_entity: say what `related` is (lead, contact, company or deal)",
            field="related_entity",
        )
    if args.related_entity is not None and args.related is None:
        raise Invalid(f"related: name the {args.related_entity}", field="related")
    fields: dict[str, Any] = {"title": args.title}
    description = args.description or ""
    related_label = None
    if args.related_entity and args.related is not None:
        obj = await c.record(ctx, args.related_entity, args.related, arg="related", args=args)
        related_label = await c.titled(ctx, args.related_entity, obj)
        if args.related_entity in TASK_LINK:
            fields[TASK_LINK[args.related_entity]] = obj.id
        else:
            note = f"Company: {obj.name} ({c.link('company', obj.id)})"
            description = f"{description}\n\n{note}".strip()
    if description:
        fields["description"] = description
    if args.priority:
        fields["priority"] = args.priority
    if args.due:
        fields["due_at"] = await c.when(ctx, args.due, field="due")
    if args.assignee is not None:
        fields["assignee_id"] = await c.member(ctx, args.assignee, arg="assignee", args=args)
    else:
        fields["assignee_id"] = ctx.principal.user_id
    task = await task_service.create(ctx.session, ctx.principal, c.build(TaskCreate, **fields))
    facts = []
    if task.due_at is not None:
        facts.append(f"due {await c.local_text(ctx, task.due_at)}")
    if task.assignee_id is not None:
        who = (
            "you"
            if task.assignee_id == ctx.principal.user_id
            else (await c.member_names(ctx)).get(task.assignee_id, "?")
        )
        facts.append(f"for {who}")
    if related_label:
        facts.append(f"about {related_label}")
    return ToolResult(
        "ok",
        summary=f"Created task {await c.label(ctx, 'task', task)}"
        + (f", {', '.join(facts)}" if facts else "")
        + ".",
        data=compact("task", await c.out_one(ctx, "task", task)),
        actions=[await created(ctx, "task", task)],
    )


# -- log_activity --------------------------------------------------------------------------


class LogActivityArgs(ToolArgs):
    type: Literal["note", "call", "email", "meeting"]
    entity: Linkable
    record: c.Ref
    subject: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, max_length=50000)
    at: str | None = Field(
        default=None, max_length=60, description="When it happened (now if omitted)"
    )
    direction: Literal["inbound", "outbound"] | None = Field(
        default=None, description="Calls and emails: inbound when the customer reached out"
    )


@c.register(
    "log_activity",
    "Record a note, call, email or meeting on the timeline of a lead, contact, company or deal.",
    permission=Permission.write,
    mutating=True,
)
async def log_activity(ctx: ToolContext, args: LogActivityArgs) -> ToolResult:
    obj = await c.record(ctx, args.entity, args.record, arg="record", args=args)
    fields: dict[str, Any] = {"type": args.type, f"{args.entity}_id": obj.id}
    if args.subject:
        fields["subject"] = args.subject
    if args.body:
        fields["body"] = args.body
    if args.direction:
        fields["direction"] = args.direction
    if args.at:
        fields["occurred_at"] = await c.when(ctx, args.at, field="at", date_only_time=time(12))
    activity = await activity_service.create(
        ctx.session, ctx.principal, c.build(ActivityCreate, **fields)
    )
    target = await c.titled(ctx, args.entity, obj)
    label = f"{args.type.capitalize()}" + (f" “{activity.subject}”" if activity.subject else "")
    return ToolResult(
        "ok",
        summary=f"Logged a {args.type} on {target} at {await c.local_text(ctx, activity.occurred_at)}.",
        data={
            "id": activity.id,
            "type": activity.type,
            "subject": activity.subject,
            "occurred_at": activity.occurred_at.isoformat(),
            f"{args.entity}_id": obj.id,
            "link": c.link(args.entity, obj.id),
        },
        actions=[
            Action(
                "created",
                "activity",
                activity.id,
                f"{label} on {target}",
                link=c.link(args.entity, obj.id),
            )
        ],
    )


# -- update_record -------------------------------------------------------------------------

UPDATE_SCHEMAS: dict[str, type[Any]] = {
    "lead": LeadUpdate,
    "contact": ContactUpdate,
    "company": CompanyUpdate,
    "deal": DealUpdate,
    "task": TaskUpdate,
}
# everyday names for API fields
ALIASES: dict[str, dict[str, str]] = {
    "lead": {"assignee": "assignee_id", "owner": "assignee_id", "company_name": "company"},
    "contact": {"company": "company_name", "owner": "owner_id", "assignee": "owner_id"},
    "company": {"owner": "owner_id", "assignee": "owner_id", "revenue": "annual_revenue"},
    "deal": {
        "owner": "owner_id",
        "assignee": "owner_id",
        "value": "amount",
        "close_date": "expected_close_date",
        "lost_reason": "won_lost_reason",
        "contact": "contact_id",
        "company": "company_id",
        "lead": "lead_id",
        "notes": "description",
    },
    "task": {
        "due": "due_at",
        "assignee": "assignee_id",
        "owner": "assignee_id",
        "notes": "description",
    },
}
MEMBER_FIELDS = {"assignee_id", "owner_id"}
REF_FIELDS = {
    "contact_id": "contact",
    "company_id": "company",
    "lead_id": "lead",
    "deal_id": "deal",
}
# fields tools never set (identity, concurrency, pipeline moves have their own tools)
BLOCKED = {"version", "pipeline_id", "stage_id", "card_order"}
# what else to remember so undo restores a change exactly
COMPANIONS = {
    "lead": {"status": ["card_order"]},
    "contact": {"email": ["emails"], "phone": ["phones"], "company_name": ["company_id"]},
    "deal": {"stage": ["stage_id", "card_order", "won_lost_reason"]},
}


def allowed_fields(entity: str) -> list[str]:
    return sorted(set(UPDATE_SCHEMAS[entity].model_fields) - BLOCKED)


class UpdateArgs(ToolArgs):
    entity: Entity
    record: c.Ref
    fields: dict[str, Any] = Field(
        min_length=1,
        max_length=30,
        description='API field names and new values, e.g. {"value": 50000, "email": "a@b.co"}; '
        "dates as YYYY-MM-DD; owner/assignee by name or id",
    )


async def prepare_changes(
    ctx: ToolContext, entity: str, obj: Any, fields: dict[str, Any], *, args: ToolArgs
) -> dict[str, Any]:
    """Tool field names and values → the service's update fields (references resolved)."""
    allowed = set(allowed_fields(entity))
    aliases = ALIASES.get(entity, {})
    changes: dict[str, Any] = {}
    for raw_key, value in fields.items():
        key = aliases.get(raw_key, raw_key)
        where = f"fields.{raw_key}"
        if key not in allowed:
            raise Invalid(
                f"{where}: a {entity} has no field {raw_key!r}; fields: {', '.join(sorted(allowed))}",
                field=where,
            )
        if key in MEMBER_FIELDS and value is not None:
            value = await c.member(ctx, value, arg=where, args=args)
        elif key in REF_FIELDS and value is not None:
            value = (await c.pick(ctx, REF_FIELDS[key], value, arg=where, args=args)).id
        elif entity == "lead" and key == "status" and value is not None:
            value = await c.lead_status(ctx, str(value), arg=where, args=args)
        elif entity == "deal" and key == "stage" and value is not None:
            value = await stage_name(ctx, obj, str(value), arg=where, args=args)
        elif key == "due_at" and isinstance(value, str):
            value = await c.when(ctx, value, field=where)
        elif key == "expected_close_date" and isinstance(value, str):
            value = await c.day(ctx, value, field=where)
        changes[key] = value
    return changes


async def stage_name(ctx: ToolContext, deal: Any, stage: str, *, arg: str, args: ToolArgs) -> str:
    """The canonical name of a stage of the deal's own pipeline."""
    pipeline = await deal_service.get_pipeline(ctx.session, ctx.principal, deal.pipeline_id)
    ref = stage
    if "/" not in stage and not pipeline.is_default:
        ref = f"{pipeline.name}/{stage}"
    match = await c.pick(ctx, "stage", ref, arg=arg, args=args)
    for s in pipeline.stages:
        if s.id == match.id:
            return s.name
    names = [s.name for s in pipeline.stages]
    raise Invalid(f"{arg}: pipeline {pipeline.name!r} has the stages {names}", field=arg)


def remembered(entity: str, changes: dict[str, Any]) -> list[str]:
    keys = list(changes)
    for k in list(keys):
        keys += [x for x in COMPANIONS.get(entity, {}).get(k, []) if x not in keys]
    return [k for k in keys if k != "company_name"]


async def apply_update(
    ctx: ToolContext, entity: str, obj_id: int, changes: dict[str, Any], *, prefix: str = ""
) -> Any:
    data = c.build(UPDATE_SCHEMAS[entity], prefix, **changes)
    service = {
        "lead": lead_service,
        "contact": contact_service,
        "company": company_service,
        "deal": deal_service,
        "task": task_service,
    }[entity]
    return await service.update(ctx.session, ctx.principal, obj_id, data)  # type: ignore[attr-defined]


MONEY_FIELDS = {"value", "amount", "budget", "annual_revenue", "lifetime_value"}


async def shown(ctx: ToolContext, key: str, value: Any, names: dict[int, str]) -> str:
    """A field's value as a person reads it: money with its sign, members and companies by
    name, dates as given."""
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if key in MONEY_FIELDS:
        return await c.money(ctx, value)
    if key in MEMBER_FIELDS and isinstance(value, int):
        return names.get(value, f"user {value}")
    if key == "company_id" and isinstance(value, int):
        row = await CompanyRepo.from_session(ctx.session, ctx.principal).get_or_none(value)
        return row.name if row is not None else f"#{value}"
    if key == "due_at" and isinstance(value, str):
        return await c.local_text(ctx, datetime.fromisoformat(value))
    return str(value)


def field_name(key: str) -> str:
    return key.removesuffix("_id").replace("_", " ")


@c.register(
    "update_record",
    "Change fields of a lead, contact, company, deal or task (e.g. value, email, phone, "
    "priority, source, title, due_at, amount, expected_close_date, notes, owner).",
    permission=Permission.write,
    mutating=True,
)
async def update_record(ctx: ToolContext, args: UpdateArgs) -> ToolResult:
    entity = args.entity
    obj = await c.record(ctx, entity, args.record, arg="record", args=args)
    changes = await prepare_changes(ctx, entity, obj, args.fields, args=args)
    keys = remembered(entity, changes)
    before_all = await c.out_one(ctx, entity, obj)
    before = {k: before_all.get(k) for k in keys}
    # in a savepoint of its own, so an update that changes nothing leaves no trace (no new
    # version, no event) and is rolled back
    savepoint = await ctx.session.begin_nested()
    updated = await apply_update(ctx, entity, obj.id, changes, prefix="fields.")
    after_all = await c.out_one(ctx, entity, updated)
    after = {k: after_all.get(k) for k in keys}
    title = await c.titled(ctx, entity, updated)
    visible = [k for k in keys if k in changes or k == "company_id"]
    names = await c.member_names(ctx) if MEMBER_FIELDS & set(visible) else {}
    diffs = [
        f"{field_name(k)} {await shown(ctx, k, before.get(k), names)} → "
        f"{await shown(ctx, k, after.get(k), names)}"
        for k in visible
        if before.get(k) != after.get(k)
    ]
    if not diffs:
        await savepoint.rollback()
        return ToolResult(
            "ok",
            summary=f"{c.cap(title)} already had those values; nothing changed.",
            data=compact(entity, after_all),
        )
    await savepoint.commit()
    return ToolResult(
        "ok",
        summary=f"Updated {title}: {'; '.join(diffs)}.",
        data=compact(entity, after_all) | {k: after.get(k) for k in visible},
        actions=[
            Action(
                "updated",
                entity,
                updated.id,
                c.cap(title),
                link=c.link(entity, updated.id),
                before=before,
                after=after,
            )
        ],
    )


# -- assign_record -------------------------------------------------------------------------


class AssignArgs(ToolArgs):
    entity: Literal["lead", "deal", "task", "contact"]
    record: c.Ref
    assignee: c.Ref = Field(description="Member: id, name, email or 'me'")


@c.register(
    "assign_record",
    "Give a lead, deal, task or contact to a member of the organization (its assignee or owner).",
    permission=Permission.write,
    mutating=True,
)
async def assign_record(ctx: ToolContext, args: AssignArgs) -> ToolResult:
    entity = args.entity
    obj = await c.record(ctx, entity, args.record, arg="record", args=args)
    user_id = await c.member(ctx, args.assignee, arg="assignee", args=args)
    field = OWNER_FIELD[entity]
    old = getattr(obj, field)
    names = await c.member_names(ctx)
    title = await c.titled(ctx, entity, obj)
    who = names.get(user_id, f"user {user_id}")
    if old == user_id:
        return ToolResult("ok", summary=f"{c.cap(title)} is already assigned to {who}.")
    updated = await apply_update(ctx, entity, obj.id, {field: user_id})
    return ToolResult(
        "ok",
        summary=f"Assigned {title} to {who}"
        + (f" (was {names.get(old, f'user {old}')})" if old is not None else "")
        + ".",
        data={"entity": entity, "id": obj.id, field: user_id, "link": c.link(entity, obj.id)},
        actions=[
            Action(
                "assigned",
                entity,
                updated.id,
                c.cap(title),
                link=c.link(entity, updated.id),
                before={field: old},
                after={field: user_id},
            )
        ],
    )


# -- delete_record -------------------------------------------------------------------------


class DeleteArgs(ToolArgs):
    entity: Entity
    record: c.Ref


DELETE = {
    "lead": lead_service.delete,
    "contact": contact_service.delete,
    "company": company_service.delete,
    "deal": deal_service.delete,
    "task": task_service.delete,
}


@c.register(
    "delete_record",
    "Delete a lead, contact, company, deal or task. The first call only asks the user to confirm "
    "(naming the record); it is deleted after the user says yes.",
    permission=Permission.delete,
    destructive=True,
)
async def delete_record(ctx: ToolContext, args: DeleteArgs) -> ToolResult:
    entity = args.entity
    obj = await c.record(ctx, entity, args.record, arg="record", args=args)
    title = await c.titled(ctx, entity, obj)
    snapshot = await gather(ctx, entity, obj)
    if not ctx.confirmed:
        extra = []
        n_act = len(snapshot.get("_activities", []))
        if n_act:
            extra.append(f"{n_act} {'activity' if n_act == 1 else 'activities'} on its timeline")
        n_tasks = len(snapshot.get("_links", {}).get("task", []))
        if n_tasks:
            extra.append(f"{n_tasks} linked {c.plural('task', n_tasks)} (they stay, unlinked)")
        tail = f" It has {' and '.join(extra)}." if extra else ""
        question = f"Delete {title}?{tail} Say yes to delete it."
        return ToolResult(
            "confirm",
            summary=question,
            question=question,
            options=[Option(f"Delete {title}", {"entity": entity, "record": obj.id})],
            data={"entity": entity, "id": obj.id, "label": title},
        )
    await DELETE[entity](ctx.session, ctx.principal, obj.id)
    return ToolResult(
        "ok",
        summary=f"Deleted {title}.",
        data={"entity": entity, "id": obj.id},
        actions=[Action("deleted", entity, obj.id, c.cap(title), link=None, before=snapshot)],
    )
