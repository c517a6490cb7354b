"""Imports."""

from __future__ import annotations

from fastapi import APIRouter

from aicrm.db import TxRoute

router = APIRouter(prefix="/api/v1", tags=["imports"], route_class=TxRoute)
