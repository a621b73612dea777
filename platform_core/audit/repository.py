"""Audit log reads. Writes go through audit.service.record only; the log is append-only."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.audit.models import AuditEvent
from platform_core.audit.schemas import AuditEventFilter


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
    session: AsyncSession, flt: AuditEventFilter, *, offset: int, limit: int
) -> tuple[list[AuditEvent], int]:
    """One page of events, newest first, and the total matching, in one round trip."""
    total = func.count().over().label("total")
    stmt = (
        select(AuditEvent, total)
        .where(*_conditions(flt))
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    if offset == 0:
        return [], 0
    count = await session.scalar(select(func.count()).select_from(AuditEvent).where(*_conditions(flt)))
    return [], int(count or 0)
