"""The warm pool's beat task: keep TENANT_SCHEMA_POOL_SIZE empty tenant schemas ready for signups.

Each schema is built and committed on its own (tenants/pool.py), outside the task's transaction, so a
schema built before a failure stays pooled; two runs at once do not both build (an advisory lock).
The worker needs the complete model registry, as `platformctl worker` loads it.
"""

from __future__ import annotations

from tenants import pool
from workers.base import TaskContext, platform_task

TOP_UP_TASK = "maintenance.top_up_schema_pool"


@platform_task(TOP_UP_TASK)
def top_up_schema_pool(ctx: TaskContext) -> int:
    """Build pooled schemas until the configured number wait at the tenant head; return how many."""
    settings = ctx.db.settings
    return pool.top_up(ctx.db.sync_engine, settings, size=settings.tenant_schema_pool_size)
