from __future__ import annotations

from sqlalchemy import JSON, Boolean, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, OrgScoped


class CustomField(OrgScoped, Base):
    """A typed custom-field definition for one entity type of one organization."""

    __tablename__ = "custom_field"
    __table_args__ = (UniqueConstraint("organization_id", "entity_type", "key"),)

    entity_type: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(120))
    field_type: Mapped[str] = mapped_column(String(20))
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
