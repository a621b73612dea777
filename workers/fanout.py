"""Fan a periodic task out to one task per active tenant, spread over the period."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from platform_core.kernel.outbox import enqueue
from tenants import repository as tenant_repository


def fan_out(session: Session, task_name: str, *, period_seconds: float, **kwargs: Any) -> int:
    """Enqueue `task_name` once per active tenant, start times spread evenly over the period."""
    tenant_ids = tenant_repository.active_ids(session)
    step = period_seconds / len(tenant_ids) if tenant_ids else 0
    for index, tenant_id in enumerate(tenant_ids):
        enqueue(session, task_name, tenant_id=tenant_id, delay_seconds=index * step, **kwargs)
    return len(tenant_ids)
