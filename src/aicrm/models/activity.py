from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped, UTCDateTime


class Activity(OrgScoped, Base):
    """A note, call, email or meeting on the timeline of a contact, company, lead or deal."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_contact", "organization_id", "contact_id", "occurred_at"),
        Index("ix_activity_company", "organization_id", "company_id", "occurred_at"),
        Index("ix_activity_lead", "organization_id", "lead_id", "occurred_at"),
        Index("ix_activity_deal", "organization_id", "deal_id", "occurred_at"),
    )

    type: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    direction: Mapped[str | None] = mapped_column(String(10), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(60), nullable=True)
    duration_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("contact.id", ondelete="CASCADE"), nullable=True
    )
    company_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("company.id", ondelete="CASCADE"), nullable=True
    )
    lead_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("lead.id", ondelete="CASCADE"), nullable=True
    )
    deal_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("deal.id", ondelete="CASCADE"), nullable=True
    )
