"""HTTP routes: The tenant's audit log."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
