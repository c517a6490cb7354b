"""Bookings and follow-up sequences.

`schedule_meeting` is a real booking: a meeting activity at that time on the record's timeline
(owned by the attendee, with its duration) plus a task for the attendee, refused when it
overlaps another meeting of the attendee — the answer then offers the next free slots within
working hours (Mon–Fri 09:00–18:00 in the organization's zone).

`start_follow_up_sequence` creates the sequence as a chain of follow-up tasks (each blocked by
the one before), due at the day offsets. The sequence stops when the contact replies: the event
consumer below watches committed `activity.created` events, and an inbound email or call on the
lead or contact cancels (deletes) the sequence's unfinished tasks and notes it on the timeline.
This is a stopgap: the real sequences engine (templates, sending, pausing, per-step channels)
arrives with the lead-automation issue and should replace it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from aicrm.activities import service as activity_service
from aicrm.activities.schemas import ActivityCreate
from aicrm.assistant.tools import Action, Option, ToolArgs, ToolContext, ToolResult
from aicrm.assistant.toolset import common as c
from aicrm.errors import Invalid, NotFound
from aicrm.events.relay import consumer
from aicrm.jobs.context import JobContext
from aicrm.kit.principal import Permission, system_principal
from aicrm.leads import service as lead_service
from aicrm.models import Contact, Lead, OutboxEvent
from aicrm.tasks import service as task_service
from aicrm.tasks.schemas import TaskCreate

SEQUENCE_CATEGORY = "follow-up sequence"
MEETING_CATEGORY = "meeting"
WORK_START = time(9, 0)
WORK_END = time(18, 0)
SLOT_STEP = timedelta(minutes=30)
SLOTS_OFFERED = 3
SEARCH_DAYS = 14
LONGEST_MEETING = timedelta(hours=24)  # meetings starting earlier than this cannot overlap
PAST_GRACE = timedelta(minutes=5)


# -- schedule_meeting --------------------------------------------------------------------------


class MeetingArgs(ToolArgs):
    entity: Literal["lead", "contact", "deal"]
    record: c.Ref
    start: str = Field(
        min_length=1, max_length=60, description="YYYY-MM-DDTHH:MM in the organization's zone"
    )
    duration_minutes: int = Field(default=30, ge=5, le=480)
    title: str | None = Field(default=None, max_length=300)
    attendee: c.Ref | None = Field(
        default=None, description="The member who meets them: id, name, email or 'me' (default)"
    )


@dataclass
class Busy:
    start: datetime
    end: datetime
    subject: str
    activity_id: int


async def busy(ctx: ToolContext, user_id: int, start: datetime, end: datetime) -> list[Busy]:
    """The user's meetings that overlap [start, end)."""
    rows, _ = await activity_service.list_activities(
        ctx.session,
        ctx.principal,
        {
            "type": "meeting",
            "user_id": user_id,
            "occurred_at__gte": (start - LONGEST_MEETING).isoformat(),
            "occurred_at__lt": end.isoformat(),
        },
        sort="occurred_at",
        cursor=None,
        limit=500,
    )
    out = []
    for a in rows:
        a_start = a.occurred_at.astimezone(UTC)
        a_end = a_start + timedelta(minutes=a.duration_minutes or 30)
        if a_start < end and a_end > start:
            out.append(Busy(a_start, a_end, a.subject, a.id))
    return out


def free_slots(
    taken: list[Busy],
    after: datetime,
    length: timedelta,
    tz: ZoneInfo,
    now: datetime,
    *,
    count: int = SLOTS_OFFERED,
) -> list[datetime]:
    """The next `count` starts at or after `after`, on the half hour, within working hours,
    that overlap none of `taken`."""
    local = after.astimezone(tz)
    minute = 0 if local.minute == 0 else 30 if local.minute <= 30 else 60
    t = local.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=minute)
    limit = local + timedelta(days=SEARCH_DAYS)
    found: list[datetime] = []
    while t < limit and len(found) < count:
        day_start = datetime.combine(t.date(), WORK_START, tz)
        day_end = datetime.combine(t.date(), WORK_END, tz)
        if t.weekday() >= 5 or t + length > day_end:
            t = datetime.combine(t.date() + timedelta(days=1), WORK_START, tz)
            continue
        if t < day_start:
            t = day_start
            continue
        s, e = t.astimezone(UTC), (t + length).astimezone(UTC)
        if s >= now and not any(b.start < e and b.end > s for b in taken):
            found.append(s)
        t += SLOT_STEP
    return found


def _local_iso(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def _span(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    a, b = start.astimezone(tz), end.astimezone(tz)
    return f"{a:%a %-d %b %Y %H:%M}–{b:%H:%M}"


@c.register(
    "schedule_meeting",
    "Book a meeting with a lead, contact or deal: a meeting on its timeline at that time and a "
    "task for the attendee. Refuses a time that overlaps the attendee's other meetings and "
    "offers the next free slots instead.",
    permission=Permission.write,
    mutating=True,
)
async def schedule_meeting(ctx: ToolContext, args: MeetingArgs) -> ToolResult:
    obj = await c.record(ctx, args.entity, args.record, arg="record", args=args)
    if args.attendee is not None:
        attendee = await c.member(ctx, args.attendee, arg="attendee", args=args)
    elif ctx.principal.user_id is not None:
        attendee = ctx.principal.user_id
    else:
        raise Invalid(
            "attendee: this API key acts for no user; name the attendee", field="attendee"
        )
    tz = await c.zone(ctx)
    start, has_time = await c.moment(ctx, args.start, field="start")
    length = timedelta(minutes=args.duration_minutes)
    if not has_time:
        # a day without a time: offer the attendee's free times that day
        day = start.astimezone(tz).date()
        opening = max(datetime.combine(day, WORK_START, tz).astimezone(UTC), ctx.now)
        closing = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
        taken = await busy(ctx, attendee, opening, closing)
        slots = [
            s
            for s in free_slots(taken, opening, length, tz, ctx.now, count=4)
            if s.astimezone(tz).date() == day
        ]
        base = args.model_dump(mode="json", exclude_none=True)
        free = ", ".join(f"{s.astimezone(tz):%H:%M}" for s in slots)
        raise c.clarify(
            f"At what time on {day:%a %-d %b %Y}?" + (f" Free then: {free}." if slots else ""),
            [
                Option(
                    f"{s.astimezone(tz):%a %-d %b %Y %H:%M}", base | {"start": _local_iso(s, tz)}
                )
                for s in slots
            ],
            field="start",
        )
    if start < ctx.now - PAST_GRACE:
        raise Invalid(
            f"start: {start.astimezone(tz):%a %-d %b %Y %H:%M} is in the past", field="start"
        )
    end = start + length
    names = await c.member_names(ctx)
    who = "you" if attendee == ctx.principal.user_id else names.get(attendee, f"user {attendee}")
    target = await c.titled(ctx, args.entity, obj)
    clashes = await busy(ctx, attendee, start, end)
    if clashes:
        window = await busy(ctx, attendee, start, start + timedelta(days=SEARCH_DAYS))
        slots = free_slots(window, start, length, tz, ctx.now)
        first = clashes[0]
        busy_text = f"“{first.subject or 'a meeting'}” {_span(first.start, first.end, tz)}"
        offer = "; ".join(f"{s.astimezone(tz):%a %-d %b %H:%M}" for s in slots)
        question = f"{'You have' if who == 'you' else who + ' has'} {busy_text} at that time. " + (
            f"The next free slots: {offer}. Which one?" if slots else "Which other time?"
        )
        base = args.model_dump(mode="json", exclude_none=True)
        return ToolResult(
            "clarify",
            summary=question,
            question=question,
            options=[
                Option(
                    f"{s.astimezone(tz):%a %-d %b %Y %H:%M}", base | {"start": _local_iso(s, tz)}
                )
                for s in slots
            ],
            field="start",
            data={
                "conflicts": [
                    {
                        "activity_id": b.activity_id,
                        "subject": b.subject,
                        "start": b.start.isoformat(),
                        "end": b.end.isoformat(),
                    }
                    for b in clashes
                ],
                "free_slots": [_local_iso(s, tz) for s in slots],
                "timezone": str(tz),
            },
        )
    name = getattr(obj, "name", None) or f"#{obj.id}"
    subject = args.title or f"Meeting with {name}"
    link_field = f"{args.entity}_id"
    activity = await activity_service.create(
        ctx.session,
        ctx.principal,
        c.build(
            ActivityCreate,
            type="meeting",
            subject=subject,
            occurred_at=start,
            duration_minutes=args.duration_minutes,
            user_id=attendee,
            **{link_field: obj.id},
        ),
    )
    span = _span(start, end, tz)
    task = await task_service.create(
        ctx.session,
        ctx.principal,
        c.build(
            TaskCreate,
            title=f"Meeting: {subject}"[:300],
            description=f"{span} ({tz}), {args.duration_minutes} minutes, with {target}.",
            due_at=start,
            assignee_id=attendee,
            category=MEETING_CATEGORY,
            **{link_field: obj.id},
        ),
    )
    link = c.link(args.entity, obj.id)
    return ToolResult(
        "ok",
        summary=f"Booked “{subject}” with {target} for {who}, {span} ({tz}); "
        f"a task reminds {'you' if who == 'you' else who}.",
        data={
            "activity_id": activity.id,
            "task_id": task.id,
            "start": _local_iso(start, tz),
            "end": _local_iso(end, tz),
            "timezone": str(tz),
            "attendee_id": attendee,
            "link": link,
        },
        actions=[
            Action(
                "scheduled",
                "activity",
                activity.id,
                f"Meeting “{subject}” with {target}, {span}",
                link=link,
                after={"activity_id": activity.id, "task_id": task.id},
            ),
            Action(
                "created",
                "task",
                task.id,
                f"Task {await c.label(ctx, 'task', task)}",
                link=c.link("task", task.id),
                undoable=False,  # undoing the booking removes it too
            ),
        ],
    )


# -- start_follow_up_sequence ----------------------------------------------------------------


class SequenceArgs(ToolArgs):
    entity: Literal["lead", "contact"]
    record: c.Ref
    steps: list[int] = Field(
        default_factory=lambda: [1, 3, 7],
        min_length=1,
        max_length=10,
        description="Day offsets from now, increasing, e.g. [1, 3, 7]",
    )
    channel: Literal["email", "call"] | None = None

    @field_validator("steps")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        if any(d < 0 or d > 365 for d in v):
            raise ValueError("each step is a number of days between 0 and 365")
        if any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("steps must increase, e.g. [1, 3, 7]")
        return v


async def running_sequence(ctx: ToolContext, entity: str, record_id: int) -> list[int]:
    rows, _ = await task_service.list_tasks(
        ctx.session,
        ctx.principal,
        {"category": SEQUENCE_CATEGORY, "status__ne": "done", f"{entity}_id": record_id},
        sort="id",
        cursor=None,
        limit=50,
    )
    return [r.id for r in rows]


@c.register(
    "start_follow_up_sequence",
    "Start a follow-up sequence for a lead or contact: a chain of follow-up tasks due at the "
    "given day offsets (default 1, 3 and 7 days), each unlocked by the one before; it stops "
    "when they reply (an inbound email or call cancels the remaining tasks).",
    permission=Permission.write,
    mutating=True,
)
async def start_follow_up_sequence(ctx: ToolContext, args: SequenceArgs) -> ToolResult:
    """A stopgap sequence: follow-up tasks in a dependency chain, cancelled on a reply by the
    `assistant.followups` consumer. The real sequences engine (templates, sending, pausing)
    arrives with the lead-automation issue and replaces this."""
    obj = await c.record(ctx, args.entity, args.record, arg="record", args=args)
    title = await c.titled(ctx, args.entity, obj)
    running = await running_sequence(ctx, args.entity, obj.id)
    if running:
        return ToolResult(
            "invalid",
            summary=f"{c.cap(title)} already has a follow-up sequence running (tasks "
            + ", ".join(f"#{i}" for i in running)
            + "); finish or delete those tasks first.",
            field="record",
            data={"task_ids": running},
        )
    if args.channel:
        channel = args.channel
    elif isinstance(obj, Contact):
        channel = "call" if obj.preferred_channel in ("phone", "sms", "whatsapp") else "email"
    else:
        channel = "email" if obj.email or not obj.phone else "call"
    owner = obj.assignee_id if isinstance(obj, Lead) else obj.owner_id
    assignee = owner if owner is not None else ctx.principal.user_id
    tz = await c.zone(ctx)
    n = len(args.steps)
    started = ctx.now.astimezone(tz)
    ids: list[int] = []
    dues: list[datetime] = []
    verb = "Email" if channel == "email" else "Call"
    for i, offset in enumerate(args.steps, start=1):
        due = ctx.now + timedelta(days=offset)
        task = await task_service.create(
            ctx.session,
            ctx.principal,
            c.build(
                TaskCreate,
                title=f"Follow-up {i}/{n}: {verb.lower()} {obj.name}"[:300],
                description=(
                    f"Step {i} of {n} of the follow-up sequence started {started:%a %-d %b %Y} "
                    f"({verb.lower()}, days {', '.join(str(d) for d in args.steps)}). The "
                    f"remaining steps are cancelled when {obj.name} replies (an inbound email "
                    f"or call)."
                ),
                due_at=due,
                assignee_id=assignee,
                category=SEQUENCE_CATEGORY,
                priority="medium",
                **{f"{args.entity}_id": obj.id},
            ),
        )
        if ids:
            await task_service.add_dependency(ctx.session, ctx.principal, task.id, ids[-1])
        ids.append(task.id)
        dues.append(due)
    names = await c.member_names(ctx)
    who = "you" if assignee == ctx.principal.user_id else names.get(assignee, "nobody")
    due_text = ", ".join(f"{d.astimezone(tz):%a %-d %b}" for d in dues)
    return ToolResult(
        "ok",
        summary=f"Started a follow-up sequence for {title}: {n} {channel} "
        f"{'follow-up' if n == 1 else 'follow-ups'} for {who}, due {due_text}; it stops when "
        f"{obj.name} replies.",
        data={
            "task_ids": ids,
            "due": [_local_iso(d, tz) for d in dues],
            "channel": channel,
            "assignee_id": assignee,
            "link": c.link(args.entity, obj.id),
        },
        actions=[
            Action(
                "scheduled",
                "task",
                ids[0],
                f"Follow-up sequence for {title}: {n} {c.plural('task', n)}",
                link=c.link("task", ids[0]),
                after={"task_ids": ids},
            )
        ],
    )


# -- stopping a sequence when the contact replies ---------------------------------------------

REPLY_TYPES = {"email", "call"}


async def stop_on_reply(session: Any, organization_id: int, activity_id: int) -> list[int]:
    """If the activity is a reply (inbound email or call), cancel the unfinished follow-up
    tasks of its lead and contact (and of the contact's leads); returns their ids."""
    principal = system_principal(organization_id)
    try:
        activity = await activity_service.get(session, principal, activity_id)
    except NotFound:
        return []
    if activity.type not in REPLY_TYPES or activity.direction != "inbound":
        return []
    filters: list[dict[str, Any]] = []
    if activity.lead_id is not None:
        filters.append({"lead_id": activity.lead_id})
    if activity.contact_id is not None:
        filters.append({"contact_id": activity.contact_id})
        leads, _ = await lead_service.list_leads(
            session,
            principal,
            {"contact_id": activity.contact_id},
            sort="id",
            cursor=None,
            limit=50,
        )
        filters += [{"lead_id": lead.id} for lead in leads if lead.id != activity.lead_id]
    cancelled: dict[int, Any] = {}
    for f in filters:
        rows, _ = await task_service.list_tasks(
            session,
            principal,
            {"category": SEQUENCE_CATEGORY, "status__ne": "done", **f},
            sort="id",
            cursor=None,
            limit=50,
        )
        for t in rows:
            # a sequence started after the reply was logged is not answered by it
            if t.created_at <= activity.created_at:
                cancelled[t.id] = t
    if not cancelled:
        return []
    for task_id in sorted(cancelled, reverse=True):
        await task_service.delete(session, principal, task_id)
    # one note on each record whose sequence stopped
    per_record: dict[tuple[str, int], int] = {}
    for t in cancelled.values():
        key = ("lead_id", t.lead_id) if t.lead_id else ("contact_id", t.contact_id)
        per_record[key] = per_record.get(key, 0) + 1
    at = activity.occurred_at.astimezone(UTC)
    for (field, record_id), n in sorted(per_record.items()):
        note = (
            f"Follow-up sequence stopped: a reply came in (inbound {activity.type}, "
            f"{at:%Y-%m-%d %H:%M} UTC); {n} unfinished follow-up "
            f"{'task was' if n == 1 else 'tasks were'} cancelled."
        )
        await activity_service.create(
            session,
            principal,
            ActivityCreate(
                type="note", subject="Follow-up sequence stopped", body=note, **{field: record_id}
            ),
        )
    return sorted(cancelled)


@consumer("assistant.followups")
async def _followups(ctx: JobContext, events: list[OutboxEvent]) -> None:
    replies = [e for e in events if e.type == "activity.created" and e.entity_id is not None]
    if not replies:
        return
    session = await ctx.session()
    for event in replies:
        if (event.payload or {}).get("type") not in REPLY_TYPES:
            continue
        assert event.entity_id is not None
        await stop_on_reply(session, event.organization_id, event.entity_id)
