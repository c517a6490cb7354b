from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped


class AIClassifierExample(OrgScoped, Base):
    """One labelled text a classifier learns from."""

    __tablename__ = "ai_classifier_example"

    classifier_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("ai_classifier.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(100))
