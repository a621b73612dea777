"""HTTP routes: Built-in and custom roles."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/roles", tags=["roles"])
