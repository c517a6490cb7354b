from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, OrgScoped, UTCDateTime


class AIClassifier(OrgScoped, Base):
    """An organization's own text classifier (ticket categories, intents, routing queues),
    trained on its labelled examples; predictions under `confidence_floor` answer none."""

    __tablename__ = "ai_classifier"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(String(40), default="custom")
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    confidence_floor: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    example_count: Mapped[int] = mapped_column(Integer, default=0)
    model_version: Mapped[int] = mapped_column(Integer, default=0)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    trained_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
