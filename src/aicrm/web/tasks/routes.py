"""Tasks: the filtered list with quick completion, dependencies (blocked by / blocks), the task
page with its comment thread; auto-assignment (the plan is shown before a second click applies
it) and the open bottlenecks and anomalies found by the pattern scans."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from aicrm.ai.workload import service as workload_service
from aicrm.ai.workload.schemas import AutoAssignIn, PlanOut, Scope
from aicrm.errors import AICRMError, Conflict
from aicrm.kit.principal import Permission
from aicrm.models import Task
from aicrm.tasks import service as task_service
from aicrm.tasks.repository import TaskRepo
from aicrm.tasks.schemas import (
    CommentCreate,
    TaskCreate,
    TaskOut,
    TaskPriority,
    TaskStatus,
    TaskUpdate,
)
from aicrm.web.common import contact_names, contact_options, member_options
from aicrm.web.core import (
    Ctx,
    WebCtx,
    WebRoute,
    field_errors,
    on_error,
    page,
    partial,
    redirect,
    safe_next,
    toast,
    trigger,
)
from aicrm.web.forms import build, form_data, int_or_none, pick
from aicrm.web.session import set_flash

router = APIRouter(prefix="/tasks", route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 30
STATUS_OPTIONS = [(s.value, s.value.replace("_", " ").capitalize()) for s in TaskStatus]
PRIORITY_OPTIONS = [(p.value, p.value.capitalize()) for p in TaskPriority]
EDITABLE = (
    "title",
    "description",
    "status",
    "priority",
    "category",
    "assignee_id",
    "due_at",
    "estimate_hours",
    "contact_id",
    "lead_id",
    "deal_id",
)


async def _titles(ctx: Ctx, tasks: list[TaskOut]) -> dict[int, Task]:
    """The tasks that the given ones wait for or block, for names and done-ness."""
    ids = sorted({i for t in tasks for i in (*t.blocked_by, *t.blocks)})
    rows = await TaskRepo.from_session(ctx.session, ctx.principal).get_many(ids)
    return {r.id: r for r in rows}


async def _links(ctx: Ctx, tasks: list[TaskOut]) -> dict[str, dict[int, str]]:
    from aicrm.leads.repository import LeadRepo

    leads = await LeadRepo.from_session(ctx.session, ctx.principal).get_many(
        sorted({t.lead_id for t in tasks if t.lead_id})
    )
    deals: dict[int, str] = {}
    deal_ids = sorted({t.deal_id for t in tasks if t.deal_id})
    if deal_ids:
        from aicrm.deals.repository import DealRepo

        deals = {
            d.id: d.name
            for d in await DealRepo.from_session(ctx.session, ctx.principal).get_many(deal_ids)
        }
    return {
        "contact": await contact_names(ctx, [t.contact_id for t in tasks]),
        "lead": {r.id: r.name for r in leads},
        "deal": deals,
    }


def _params(view: str, status: str, overdue: str, q: str, extra: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = dict(extra)
    if view == "mine":
        params["mine"] = "true"
    if status == "open":
        params["status__ne"] = "done"
    elif status and status != "any":
        params["status"] = status
    if overdue == "1":
        params["overdue"] = "true"
    if q:
        params["q"] = q
    return params


async def _row_context(ctx: Ctx, tasks: list[TaskOut]) -> dict[str, Any]:
    return {
        "related": await _titles(ctx, tasks),
        "links": await _links(ctx, tasks),
        "members": await ctx.members(),
    }


async def _form_context(ctx: Ctx) -> dict[str, Any]:
    repo = TaskRepo.from_session(ctx.session, ctx.principal)
    open_tasks = (
        await ctx.session.execute(
            repo.select().where(Task.status != "done").order_by(Task.title).limit(300)
        )
    ).scalars()
    return {
        "status_options": STATUS_OPTIONS,
        "priority_options": PRIORITY_OPTIONS,
        "owner_options": await member_options(ctx),
        "contact_choices": await contact_options(ctx, 500),
        "task_choices": [(t.id, t.title) for t in open_tasks],
    }


@router.get("")
async def tasks_page(
    ctx: WebCtx,
    view: str = "all",
    status: str = "open",
    overdue: str = "",
    q: str = "",
    contact_id: int | None = None,
    lead_id: int | None = None,
    deal_id: int | None = None,
    cursor: str | None = None,
    fragment: str = "",
) -> Response:
    extra = {
        k: str(v)
        for k, v in (("contact_id", contact_id), ("lead_id", lead_id), ("deal_id", deal_id))
        if v is not None
    }
    params = _params(view, status, overdue, q.strip(), extra)
    tasks, next_cursor = await task_service.list_tasks(
        ctx.session, ctx.principal, params, sort="due_at", cursor=cursor, limit=PAGE_SIZE
    )
    query = {
        k: v
        for k, v in {"view": view, "status": status, "overdue": overdue, "q": q, **extra}.items()
        if v and not (k == "view" and v == "all") and not (k == "status" and v == "open")
    }
    context: dict[str, Any] = {
        "tasks": tasks,
        "next_cursor": next_cursor,
        "query": query,
        **await _row_context(ctx, tasks),
    }
    if ctx.htmx and fragment == "rows":
        return await partial(ctx, "tasks/_rows.html", **context)
    if ctx.htmx and ctx.request.headers.get("hx-target") == "task-list":
        # the address bar gets the filters without the empty ones
        clean = urlencode(query)
        return await partial(
            ctx,
            "tasks/_list.html",
            headers={"HX-Push-Url": "/tasks" + (f"?{clean}" if clean else "")},
            **context,
        )
    scope = None
    if contact_id:
        scope = ("contact", f"/contacts/{contact_id}", context["links"]["contact"].get(contact_id))
    return await page(
        ctx,
        "tasks/page.html",
        active="tasks",
        view=view,
        status_filter=status,
        overdue=overdue,
        q=q,
        scope=scope,
        form_values={"assignee_id": ctx.user_id, "priority": "medium", "status": "todo", **extra},
        form_errors={},
        insights=await workload_service.workspace_insights(ctx.session, ctx.principal),
        **await _form_context(ctx),
        **context,
    )


# -- auto-assign and workspace insights ------------------------------------------------------
# (declared before the /{task_id} routes, which would otherwise take these paths)


def _scope(value: str | None) -> Scope:
    return Scope.open if value == "open" else Scope.unassigned


async def _plan_response(
    ctx: Ctx, plan: PlanOut, *, notice: str | None = None, applied: bool = False
) -> HTMLResponse:
    return await partial(ctx, "tasks/_auto_assign.html", plan=plan, notice=notice, applied=applied)


@router.get("/auto-assign")
async def auto_assign_plan(ctx: WebCtx, scope: str = "unassigned") -> HTMLResponse:
    """The plan for open tasks, shown in a dialog before anything changes."""
    plan = await workload_service.auto_assign(
        ctx.session,
        ctx.principal,
        ctx.principal.organization_id,
        AutoAssignIn(scope=_scope(scope)),
    )
    return await _plan_response(ctx, plan)


@router.post("/auto-assign")
async def auto_assign_execute(ctx: WebCtx) -> Response:
    """Apply the plan the user reviewed (its digest); a plan that changed meanwhile is shown
    again instead of being applied."""
    form = await form_data(ctx.request)
    scope = _scope(form.get("scope"))

    async def failed(exc: AICRMError) -> Response:
        if isinstance(exc, Conflict) and isinstance(exc.extra.get("plan"), dict):
            return await _plan_response(
                ctx,
                PlanOut.model_validate(exc.extra["plan"]),
                notice="Tasks or people changed since you opened the plan. Here is the new "
                "plan; nothing was assigned yet.",
            )
        return toast(HTMLResponse("", status_code=204), exc.message, "error")

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    plan = await workload_service.auto_assign(
        ctx.session,
        ctx.principal,
        ctx.principal.organization_id,
        AutoAssignIn(scope=scope, execute=True, digest=form.get("digest") or None),
    )
    response = await _plan_response(ctx, plan, applied=True)
    n = sum(1 for a in plan.assignments if a.assignee_id != a.previous_assignee_id)
    trigger(response, tasksChanged=True, insightsChanged=True)
    return toast(response, f"Assigned {n} task{'s' if n != 1 else ''}")


@router.get("/insights")
async def workspace_insights(ctx: WebCtx) -> HTMLResponse:
    """The panel of open bottlenecks, anomalies and workload findings."""
    items = await workload_service.workspace_insights(ctx.session, ctx.principal)
    return await partial(ctx, "ai/_workspace_insights.html", insights=items)


@router.post("/insights/scan")
async def scan_now(ctx: WebCtx) -> Response:
    """Run the pattern scans now and show the panel again."""
    ctx.require(Permission.write)
    result = await workload_service.optimize(
        ctx.session, ctx.principal, ctx.principal.organization_id
    )
    items = await workload_service.workspace_insights(ctx.session, ctx.principal)
    response = await partial(ctx, "ai/_workspace_insights.html", insights=items)
    new = sum(1 for f in result.findings if f.new)
    return toast(
        response,
        f"{new} new finding{'s' if new != 1 else ''}" if new else "Nothing new found",
        "success" if new else "info",
    )


def _fields(form: dict[str, str], *, creating: bool) -> dict[str, Any]:
    data = pick(form, EDITABLE, blank_as_none=not creating)
    for key in ("assignee_id", "contact_id", "lead_id", "deal_id"):
        if key in data:
            data[key] = int_or_none(data[key], field=key)
    if data.get("due_at") and len(str(data["due_at"])) == 10:
        # a date without a time means the end of that day
        data["due_at"] = f"{data['due_at']}T23:59:00"
    return data


@router.post("")
async def create_task(ctx: WebCtx) -> Response:
    form = await form_data(ctx.request)
    form_ctx = await _form_context(ctx)

    async def failed(exc: AICRMError) -> Response:
        return await partial(
            ctx,
            "tasks/_form.html",
            status=422,
            form_values=form,
            form_errors=field_errors(exc),
            form_error=exc.message,
            **form_ctx,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    task = await task_service.create(
        ctx.session, ctx.principal, build(TaskCreate, _fields(form, creating=True))
    )
    blocker = int_or_none(form.get("blocked_by_id"), field="blocked_by_id")
    if blocker is not None:
        await task_service.add_dependency(ctx.session, ctx.principal, task.id, blocker)
    back = form.get("return_to")
    response = redirect(ctx.request, safe_next(back) if back else f"/tasks/{task.id}")
    set_flash(response, f"Task “{task.title}” created.")
    return response


async def _row(ctx: Ctx, task_id: int, **extra: Any) -> HTMLResponse:
    task = await task_service.get(ctx.session, ctx.principal, task_id)
    out = await task_service.to_out(ctx.session, ctx.principal, [task])
    return await partial(ctx, "tasks/_row.html", t=out[0], **await _row_context(ctx, out), **extra)


def _blocked_message(exc: AICRMError, related: dict[int, Task]) -> str:
    ids = exc.extra.get("blocked_by") or []
    names = [f"“{related[i].title}”" if i in related else f"task {i}" for i in ids]
    if names:
        return f"Can't complete this yet: finish {', '.join(names)} first."
    return exc.message


@router.post("/{task_id}/status")
async def set_status(ctx: WebCtx, task_id: int) -> Response:
    """Quick status change (the checkbox in the list, the picker on the task page)."""
    form = await form_data(ctx.request)
    where = form.get("where", "row")

    async def failed(exc: AICRMError) -> Response:
        # the refused change is still applied to the loaded task: show what is stored
        await ctx.session.rollback()
        task = await task_service.get(ctx.session, ctx.principal, task_id)
        out = await task_service.to_out(ctx.session, ctx.principal, [task])
        rows = await _row_context(ctx, out)
        message = (
            _blocked_message(exc, rows["related"]) if isinstance(exc, Conflict) else exc.message
        )
        template = "tasks/_row.html" if where == "row" else "tasks/_summary.html"
        return await partial(ctx, template, status=422, t=out[0], row_error=message, **rows)

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    data = build(TaskUpdate, {"status": form.get("status") or None})
    await task_service.update(ctx.session, ctx.principal, task_id, data)
    if where == "row":
        response = await _row(ctx, task_id)
    else:
        response = await _summary_response(ctx, task_id)
    label = dict(STATUS_OPTIONS).get(data.status.value if data.status else "", "updated")
    # tasks waiting for this one may have become unblocked: the list refreshes itself
    trigger(response, tasksChanged=True)
    return toast(
        response, "Task done" if data.status == TaskStatus.done else f"Marked {label.lower()}"
    )


async def _detail_context(ctx: Ctx, task_id: int) -> dict[str, Any]:
    task = await task_service.get(ctx.session, ctx.principal, task_id)
    out = (await task_service.to_out(ctx.session, ctx.principal, [task]))[0]
    comments, more = await task_service.list_comments(
        ctx.session, ctx.principal, task_id, cursor=None, limit=200
    )
    return {
        "t": out,
        "comments": comments,
        **await _row_context(ctx, [out]),
    }


async def _summary_response(ctx: Ctx, task_id: int) -> HTMLResponse:
    return await partial(ctx, "tasks/_summary.html", **await _detail_context(ctx, task_id))


@router.get("/{task_id}")
async def task_page(ctx: WebCtx, task_id: int) -> HTMLResponse:
    context = await _detail_context(ctx, task_id)
    form_ctx = await _form_context(ctx)
    t = context["t"]
    waiting = set(t.blocked_by) | {t.id}
    form_ctx["task_choices"] = [
        (i, title) for i, title in form_ctx["task_choices"] if i not in waiting
    ]
    return await page(
        ctx,
        "tasks/detail.html",
        active="tasks",
        dep_errors={},
        **form_ctx,
        **context,
    )


@router.get("/{task_id}/summary")
async def task_summary(ctx: WebCtx, task_id: int) -> HTMLResponse:
    return await _summary_response(ctx, task_id)


@router.get("/{task_id}/edit")
async def task_edit(ctx: WebCtx, task_id: int) -> HTMLResponse:
    context = await _detail_context(ctx, task_id)
    t = context["t"]
    values = {k: getattr(t, k) for k in EDITABLE}
    values["due_at"] = t.due_at.strftime("%Y-%m-%dT%H:%M") if t.due_at else ""
    values["version"] = t.version
    return await partial(
        ctx,
        "tasks/_edit.html",
        form_values=values,
        form_errors={},
        **await _form_context(ctx),
        **context,
    )


@router.post("/{task_id}")
async def update_task(ctx: WebCtx, task_id: int) -> Response:
    form = await form_data(ctx.request)
    context = await _detail_context(ctx, task_id)
    form_ctx = await _form_context(ctx)

    async def failed(exc: AICRMError) -> Response:
        errors = field_errors(exc)
        message = exc.message
        if isinstance(exc, Conflict) and exc.extra.get("blocked_by"):
            message = _blocked_message(exc, context["related"])
            errors["status"] = message
        return await partial(
            ctx,
            "tasks/_edit.html",
            status=422,
            form_values=form,
            form_errors=errors,
            form_error=message,
            **form_ctx,
            **context,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    data = _fields(form, creating=False)
    for required in ("title", "status", "priority"):
        if data.get(required) is None:
            data.pop(required, None)
    data["version"] = int_or_none(form.get("version"), field="version")
    await task_service.update(ctx.session, ctx.principal, task_id, build(TaskUpdate, data))
    response = await _summary_response(ctx, task_id)
    return toast(response, "Task saved")


@router.post("/{task_id}/dependencies")
async def add_dependency(ctx: WebCtx, task_id: int) -> Response:
    form = await form_data(ctx.request)

    async def failed(exc: AICRMError) -> Response:
        context = await _detail_context(ctx, task_id)
        form_ctx = await _form_context(ctx)
        return await partial(
            ctx,
            "tasks/_deps.html",
            status=422,
            dep_errors=field_errors(exc),
            dep_error=exc.message,
            **form_ctx,
            **context,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    blocker = int_or_none(form.get("blocked_by_id"), field="blocked_by_id")
    if blocker is None:
        from aicrm.errors import Invalid

        raise Invalid("Pick the task this one waits for", field="blocked_by_id")
    await task_service.add_dependency(ctx.session, ctx.principal, task_id, blocker)
    return await _deps_response(ctx, task_id, "Dependency added")


@router.post("/{task_id}/dependencies/{blocked_by_id}/delete")
async def remove_dependency(ctx: WebCtx, task_id: int, blocked_by_id: int) -> Response:
    ctx.require(Permission.write)
    await task_service.remove_dependency(ctx.session, ctx.principal, task_id, blocked_by_id)
    return await _deps_response(ctx, task_id, "Dependency removed")


async def _deps_response(ctx: Ctx, task_id: int, message: str) -> Response:
    context = await _detail_context(ctx, task_id)
    form_ctx = await _form_context(ctx)
    t = context["t"]
    waiting = set(t.blocked_by) | {t.id}
    form_ctx["task_choices"] = [
        (i, title) for i, title in form_ctx["task_choices"] if i not in waiting
    ]
    response = await partial(ctx, "tasks/_deps.html", dep_errors={}, **form_ctx, **context)
    trigger(response, taskChanged=True)
    return toast(response, message)


@router.post("/{task_id}/comments")
async def add_comment(ctx: WebCtx, task_id: int) -> Response:
    form = await form_data(ctx.request)

    async def failed(exc: AICRMError) -> Response:
        context = await _detail_context(ctx, task_id)
        return await partial(
            ctx,
            "tasks/_comments.html",
            status=422,
            comment_error=field_errors(exc).get("body") or exc.message,
            comment_body=form.get("body", ""),
            **context,
        )

    on_error(ctx.request, failed)
    ctx.require(Permission.write)
    await task_service.add_comment(
        ctx.session, ctx.principal, task_id, build(CommentCreate, {"body": form.get("body", "")})
    )
    context = await _detail_context(ctx, task_id)
    return toast(await partial(ctx, "tasks/_comments.html", **context), "Comment added")


@router.post("/{task_id}/delete")
async def delete_task(ctx: WebCtx, task_id: int) -> Response:
    ctx.require(Permission.delete)
    task = await task_service.get(ctx.session, ctx.principal, task_id)
    title = task.title
    await task_service.delete(ctx.session, ctx.principal, task_id)
    response = redirect(ctx.request, "/tasks")
    set_flash(response, f"Task “{title}” was deleted.", "info")
    return response
