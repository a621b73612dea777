"""Schemas of the realtime API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TicketRead(BaseModel):
    """A ticket for one WebSocket connection: `wss://<tenant host>/api/v1/realtime?ticket=<ticket>`."""

    ticket: str = Field(description="Single use; put it in the WebSocket URL's `ticket` parameter.")
    expires_in: int = Field(description="Seconds the ticket stays valid if unused.")
