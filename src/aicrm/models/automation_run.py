from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped


class AutomationRun(OrgScoped, Base):
    """One evaluation of a rule against one record: matched or not, what each action did."""

    __tablename__ = "automation_run"

    rule_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("automation_rule.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    event_type: Mapped[str | None] = mapped_column(String(60), nullable=True)
    entity_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    entity_id: Mapped[int | None] = mapped_column(nullable=True)
    dry_run: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16))
    matched: Mapped[bool] = mapped_column(default=False)
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
