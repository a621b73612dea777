"""HTTP routes: Invitations to join the tenant."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/invitations", tags=["invitations"])
