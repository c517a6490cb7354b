"""Views."""

from __future__ import annotations

from fastapi import APIRouter

from aicrm.db import TxRoute

router = APIRouter(prefix="/api/v1", tags=["views"], route_class=TxRoute)
