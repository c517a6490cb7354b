from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, validates

from aicrm.kit.text import fold
from aicrm.models.base import Base, IdType, OrgScoped, UTCDateTime
from aicrm.models.name_keys import after_first_word, name_key_default


class Deal(OrgScoped, Base):
    __tablename__ = "deal"
    __table_args__ = (
        Index("ix_deal_board", "organization_id", "stage_id", "card_order"),
        Index("ix_deal_org_name_key", "organization_id", "name_key"),
    )

    name: Mapped[str] = mapped_column(String(200))
    # fold(name), kept on every write: the assistant's name lookups are index range scans
    name_key: Mapped[str] = mapped_column(String(200), default=name_key_default, server_default="")
    pipeline_id: Mapped[int] = mapped_column(IdType, ForeignKey("pipeline.id", ondelete="RESTRICT"))
    stage_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("pipeline_stage.id", ondelete="RESTRICT")
    )
    card_order: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[float] = mapped_column(Numeric(16, 2), default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    expected_close_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    won_lost_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    owner_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("contact.id", ondelete="SET NULL"), nullable=True, index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("company.id", ondelete="SET NULL"), nullable=True, index=True
    )
    lead_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("lead.id", ondelete="SET NULL"), nullable=True
    )
    description: Mapped[str] = mapped_column(Text, default="")
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)

    @validates("name")
    def _keep_name_key(self, _key: str, value: str) -> str:
        self.name_key = fold(value)
        return value


# a later word of the name as an index range scan (see aicrm.models.name_keys)
Index("ix_deal_org_name_rest", Deal.organization_id, after_first_word(Deal.name_key))
