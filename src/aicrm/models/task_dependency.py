from __future__ import annotations

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, IdType, OrgScoped


class TaskDependency(OrgScoped, Base):
    """`task_id` cannot be done before `blocked_by_id` is done."""

    __tablename__ = "task_dependency"
    __table_args__ = (UniqueConstraint("task_id", "blocked_by_id"),)

    task_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("task.id", ondelete="CASCADE"), index=True
    )
    blocked_by_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("task.id", ondelete="CASCADE"), index=True
    )
