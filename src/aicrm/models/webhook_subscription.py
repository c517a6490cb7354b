from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, OrgScoped, UTCDateTime


class WebhookSubscription(OrgScoped, Base):
    """An organization's outgoing webhook: URL, event types (globs), signing secret."""

    __tablename__ = "webhook_subscription"

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    version: Mapped[int] = mapped_column(default=1)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
