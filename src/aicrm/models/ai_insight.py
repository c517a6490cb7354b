from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped, UTCDateTime


class AIInsight(OrgScoped, Base):
    """One AI decision or finding: a score, a prediction or a recommendation about a record
    (or about the organization when `entity_type` is null), with its reasons and model version.

    A new insight of the same kind for the same record supersedes the previous one
    (`is_current` false) without deleting it, so predictions can later be joined with outcomes.
    """

    __tablename__ = "ai_insight"
    __table_args__ = (
        Index("ix_ai_insight_target", "organization_id", "entity_type", "entity_id", "kind"),
        Index("ix_ai_insight_kind_created", "organization_id", "kind", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    entity_id: Mapped[int | None] = mapped_column(nullable=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    label: Mapped[str | None] = mapped_column(String(60), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    recommendations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    model: Mapped[str] = mapped_column(String(60))
    model_version: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(10), default="info")
    status: Mapped[str] = mapped_column(String(12), default="open")
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_by_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    # dedupe key for scans: the same finding is not stored twice while it is still open
    fingerprint: Mapped[str | None] = mapped_column(String(120), nullable=True)
