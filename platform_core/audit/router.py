"""HTTP routes: the tenant's audit log, read-only (it is append-only; nothing here writes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from platform_core.access.dependencies import AuditRead
from platform_core.audit import service as audit_service
from platform_core.audit.schemas import AuditEventFilter, AuditEventPage, audit_event_read
from platform_core.kernel.paging import PageDep
from platform_core.kernel.tenancy import TenantSessionDep

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=AuditEventPage)
async def list_audit_events(
    principal: AuditRead,
    session: TenantSessionDep,
    flt: Annotated[AuditEventFilter, Query()],
    paging: PageDep,
) -> AuditEventPage:
    """List audit events, newest first, filtered by action, actor, target or time."""
    events, total = await audit_service.list_events(session, flt=flt, paging=paging)
    return AuditEventPage.of([audit_event_read(e) for e in events], total, paging)
