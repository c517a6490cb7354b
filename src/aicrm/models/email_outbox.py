from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, UTCDateTime


class EmailOutbox(Base):
    """Outgoing email, written in the same transaction as its cause; sent by SMTP or kept for the UI."""

    __tablename__ = "email_outbox"

    organization_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("organization.id", ondelete="CASCADE"), nullable=True, index=True
    )
    to_email: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40), default="generic")
    status: Mapped[str] = mapped_column(String(20), default="queued")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
