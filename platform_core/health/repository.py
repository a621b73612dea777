"""The readiness check's one query."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_PING = text("SELECT 1")


async def ping(conn: AsyncConnection) -> None:
    """Run the cheapest statement there is: the database answers, or this raises."""
    await conn.execute(_PING)
