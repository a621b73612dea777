"""Audit log queries. The log is append-only: events are inserted (`insert_event`) and read, never changed."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Insert, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.actor import Actor
from platform_core.audit.models import AuditEvent
from platform_core.audit.schemas import AuditEventFilter
from platform_core.kernel.context import request_id_var
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page


def event_insert(
    action: str,
    actor: Actor,
    *,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> Insert:
    """The INSERT of one audit event (for a connection bound to the tenant's schema)."""
    return insert(AuditEvent).values(
        id=uuid.uuid4(),
        action=str(action),
        actor_type=actor.type.value,
        actor_id=actor.id,
        actor_label=actor.label,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=actor.ip,
        request_id=request_id_var.get(),
        details=details or {},
    )


async def insert_event(
    session: AsyncSession,
    *,
    action: str,
    actor: Actor,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one event in the session's transaction."""
    await session.execute(
        event_insert(action, actor, target_type=target_type, target_id=target_id, details=details)
    )


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
    session: AsyncSession, *, flt: AuditEventFilter, paging: PageParams
) -> tuple[list[AuditEvent], int]:
    """One page of events, newest first, and the total matching, in one round trip."""
    stmt = (
        select(AuditEvent)
        .where(*_conditions(flt))
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    )
    return await fetch_page(session, stmt, paging=paging)
