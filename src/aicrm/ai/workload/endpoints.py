"""Workload manager and pattern insights under the seeds' workspace paths (a workspace is the
caller's organization)."""

from __future__ import annotations

from fastapi import APIRouter

from aicrm.ai.workload import service
from aicrm.ai.workload.schemas import AutoAssignIn, OptimizeIn, OptimizeOut, PlanOut
from aicrm.auth.deps import Reader, Session, Writer
from aicrm.db import TxRoute

router = APIRouter(prefix="/api/v1/workspaces", tags=["ai", "workload"], route_class=TxRoute)


@router.post("/{workspace_id}/tasks/auto-assign", response_model=PlanOut)
async def auto_assign(
    workspace_id: int, principal: Reader, session: Session, data: AutoAssignIn | None = None
) -> PlanOut:
    """Plan who should do which open task: skills, spare capacity, current load, due dates and
    how fast each person finished similar tasks, solved as a linear assignment; each
    assignment with its reasons, predicted deadline conflicts and load per person. A dry run
    unless `execute` is true (needs permission to write records; pass the reviewed plan's
    `digest` to apply exactly that plan)."""
    return await service.auto_assign(session, principal, workspace_id, data or AutoAssignIn())


@router.post("/{workspace_id}/optimize", response_model=OptimizeOut)
async def optimize(
    workspace_id: int, principal: Writer, session: Session, data: OptimizeIn | None = None
) -> OptimizeOut:
    """Run the pattern scans now (bottlenecks, anomalies, workload imbalance, deadline
    conflicts), store new findings as insights and return them with recommendations."""
    return await service.optimize(session, principal, workspace_id, data)
