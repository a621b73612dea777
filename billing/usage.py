"""Usage meters: how much of its plan a tenant uses, measured by the domains that own the data.

Seats are members and open invitations (the invitations domain), storage is the bytes of stored
files (the uploads domain). Both domains sit above billing, so billing owns this small interface and
the app factory wires it from the domains (`app.state.usage_meters`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

Meter = Callable[[AsyncSession], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class UsageMeters:
    """Each meter reads the tenant's usage through the tenant-bound session it is given."""

    seats_used: Meter  # members plus open invitations
    storage_used: Meter  # bytes of stored files
