"""HTTP routes: The operator API, served only on the reserved admin host."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/operator", tags=["operators"])
