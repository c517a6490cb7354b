from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped, UTCDateTime


class Contact(OrgScoped, Base):
    __tablename__ = "contact"
    __table_args__ = (
        Index("ix_contact_org_name_key", "organization_id", "name_key"),
        Index("ix_contact_org_last_key", "organization_id", "last_name_key"),
        Index("ix_contact_org_email", "organization_id", "email"),
        Index("ix_contact_org_phone", "organization_id", "phone"),
        Index("ix_contact_org_company", "organization_id", "company_id"),
    )

    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    name: Mapped[str] = mapped_column(String(200))
    # lower-cased, accent-folded keys: prefix search runs as an index range scan on both dialects
    name_key: Mapped[str] = mapped_column(String(200), default="")
    last_name_key: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    phones: Mapped[list[str]] = mapped_column(JSON, default=list)
    company_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("company.id", ondelete="SET NULL"), nullable=True
    )
    title: Mapped[str | None] = mapped_column(String(120), nullable=True)
    street: Mapped[str | None] = mapped_column(String(200), nullable=True)
    city: Mapped[str | None] = mapped_column(String(100), nullable=True)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    postal_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    lifetime_value: Mapped[float] = mapped_column(Numeric(16, 2), default=0)
    churn_risk: Mapped[float | None] = mapped_column(Float, nullable=True)
    owner_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    preferred_channel: Mapped[str] = mapped_column(String(20), default="email")
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    merged_into_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
