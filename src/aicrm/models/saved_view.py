from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped


class SavedView(OrgScoped, Base):
    """A named filter (segment) over contacts, companies, leads or deals."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("organization_id", "entity_type", "name"),)

    name: Mapped[str] = mapped_column(String(120))
    entity_type: Mapped[str] = mapped_column(String(20))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sort: Mapped[str | None] = mapped_column(String(60), nullable=True)
    owner_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    shared: Mapped[bool] = mapped_column(Boolean, default=True)
