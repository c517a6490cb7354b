from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aicrm.models.base import Base, OrgScoped, UTCDateTime


class AIModel(OrgScoped, Base):
    """A model trained for one organization (lead scoring, churn, win probability, …).

    `blob` holds the fitted estimator serialised by aicrm.ai.modelstore; only this process
    writes it. Each retraining adds a row with the next `version`; `is_active` marks the one
    used for predictions, so a worse retrain can be kept out and older versions audited.
    """

    __tablename__ = "ai_model"
    __table_args__ = (Index("ix_ai_model_kind", "organization_id", "kind", "is_active"),)

    kind: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1)
    algorithm: Mapped[str] = mapped_column(String(60), default="")
    status: Mapped[str] = mapped_column(String(12), default="ready")
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    n_train: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    trained_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
