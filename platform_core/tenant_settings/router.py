"""HTTP routes: The tenant's own settings."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/tenant/settings", tags=["tenant settings"])
