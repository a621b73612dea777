"""Audit log reads. Writes go through audit.service.record only; the log is append-only."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.audit.models import AuditEvent
from platform_core.audit.schemas import AuditEventFilter
from platform_core.kernel.paging import PageParams, fetch_page


def _conditions(flt: AuditEventFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if flt.action is not None:
        conditions.append(AuditEvent.action == flt.action)
    if flt.actor_id is not None:
        conditions.append(AuditEvent.actor_id == flt.actor_id)
    if flt.target_type is not None:
        conditions.append(AuditEvent.target_type == flt.target_type)
    if flt.target_id is not None:
        conditions.append(AuditEvent.target_id == flt.target_id)
    if flt.since is not None:
        conditions.append(AuditEvent.occurred_at >= flt.since)
    if flt.until is not None:
        conditions.append(AuditEvent.occurred_at <= flt.until)
    return conditions


async def list_page(
    session: AsyncSession, flt: AuditEventFilter, paging: PageParams
) -> tuple[list[AuditEvent], int]:
    """One page of events, newest first, and the total matching, in one round trip."""
    stmt = (
        select(AuditEvent)
        .where(*_conditions(flt))
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    )
    return await fetch_page(session, stmt, paging)
