from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, validates

from aicrm.kit.text import fold
from aicrm.models.base import Base, IdType, OrgScoped, UTCDateTime
from aicrm.models.name_keys import after_first_word, name_key_default


class Lead(OrgScoped, Base):
    __tablename__ = "lead"
    __table_args__ = (
        Index("ix_lead_board", "organization_id", "status_id", "card_order"),
        Index("ix_lead_org_email", "organization_id", "email"),
        Index("ix_lead_org_name_key", "organization_id", "name_key"),
    )

    name: Mapped[str] = mapped_column(String(200))
    # fold(name), kept on every write: the assistant's name lookups are index range scans
    name_key: Mapped[str] = mapped_column(String(200), default=name_key_default, server_default="")
    company: Mapped[str | None] = mapped_column(String(200), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    status_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("lead_status.id", ondelete="RESTRICT")
    )
    card_order: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str | None] = mapped_column(String(60), nullable=True)
    value: Mapped[float] = mapped_column(Numeric(16, 2), default=0)
    quality_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    priority: Mapped[str] = mapped_column(String(10), default="medium")
    requirements: Mapped[str] = mapped_column(Text, default="")
    timeline: Mapped[str | None] = mapped_column(String(120), nullable=True)
    budget: Mapped[float | None] = mapped_column(Numeric(16, 2), nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("contact.id", ondelete="SET NULL"), nullable=True
    )
    company_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("company.id", ondelete="SET NULL"), nullable=True
    )
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    converted_deal_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    last_contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)

    @validates("name")
    def _keep_name_key(self, _key: str, value: str) -> str:
        self.name_key = fold(value)
        return value


# a later word of the name as an index range scan (see aicrm.models.name_keys)
Index("ix_lead_org_name_rest", Lead.organization_id, after_first_word(Lead.name_key))
