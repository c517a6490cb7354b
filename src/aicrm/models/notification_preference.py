from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped


class NotificationPreference(OrgScoped, Base):
    """Per user and notification type: deliver in the app, by email, or not at all."""

    __tablename__ = "notification_preference"
    __table_args__ = (UniqueConstraint("organization_id", "user_id", "type"),)

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("user_account.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(60))
    in_app: Mapped[bool] = mapped_column(default=True)
    email: Mapped[bool] = mapped_column(default=False)
