from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped, UTCDateTime


class AutomationRule(OrgScoped, Base):
    """Trigger (event type or schedule) → conditions → ordered actions."""

    __tablename__ = "automation_rule"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    event_type: Mapped[str | None] = mapped_column(String(60), nullable=True, index=True)
    schedule: Mapped[str | None] = mapped_column(String(100), nullable=True)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    run_count: Mapped[int] = mapped_column(default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    version: Mapped[int] = mapped_column(default=1)
