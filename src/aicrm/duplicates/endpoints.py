"""Duplicates."""

from __future__ import annotations

from fastapi import APIRouter

from aicrm.db import TxRoute

router = APIRouter(prefix="/api/v1", tags=["duplicates"], route_class=TxRoute)
