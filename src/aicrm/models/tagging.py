from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped


class Tagging(OrgScoped, Base):
    __tablename__ = "tagging"
    __table_args__ = (
        UniqueConstraint("tag_id", "entity_type", "entity_id"),
        Index("ix_tagging_entity", "organization_id", "entity_type", "entity_id"),
    )

    tag_id: Mapped[int] = mapped_column(IdType, ForeignKey("tag.id", ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(IdType)
