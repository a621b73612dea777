"""Warm-pool gauges for /metrics: pooled schemas ready at the tenant head, and those behind it.

Read from `public.tenant_schema_pool` when scraped, so every API process reports the same numbers:
aggregate with max(), not sum(). A ready count stuck at 0 while signups happen means the beat task
`maintenance.top_up_schema_pool` is not running (signups still work, building their schema cold).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.kernel.db.alembic_config import head_revision
from platform_core.kernel.settings import Settings
from tenants.models import PooledSchema

READY = Gauge(
    "platform_tenant_schema_pool_ready",
    "Pooled tenant schemas at the tenant head, ready for a signup to claim",
    multiprocess_mode="mostrecent",
)
BEHIND = Gauge(
    "platform_tenant_schema_pool_behind",
    "Pooled tenant schemas behind the tenant head (the next fleet migration brings them to it)",
    multiprocess_mode="mostrecent",
)


def refresher(settings: Settings) -> Callable[[AsyncSession], Awaitable[None]]:
    """A gauge refresher (metrics_server) that sets the pool gauges from the pool table."""
    head = head_revision(settings.migrations_dir, "tenant")
    at_head = func.count().filter(PooledSchema.revision == head)
    stmt = select(at_head, func.count()).select_from(PooledSchema)

    async def refresh(session: AsyncSession) -> None:
        """Set the gauges."""
        ready, total = (await session.execute(stmt)).one()
        READY.set(ready)
        BEHIND.set(total - ready)

    return refresh
