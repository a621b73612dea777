"""The tenant console's audit log (audit:read): what happened, who did it, when; filtered and paged as
`GET /api/v1/audit` is, through the same service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Annotated, Any, Self

from fastapi import Depends, Response
from pydantic import BeforeValidator, Field, model_validator

from platform_core.access.permissions import Permission
from platform_core.audit import service as audit_service
from platform_core.audit.schemas import AuditEventFilter, audit_event_read
from platform_core.audit.service import AuditAction
from platform_core.console.templating import render
from platform_core.console.tenant.lists import ListQuery, read_query
from platform_core.console.tenant.pages import TenantPage, permission_page
from platform_core.console.tenant.route import tenant_router

router = tenant_router()

AuditReadPage = Annotated[TenantPage, Depends(permission_page(Permission.AUDIT_READ))]


def _day_or_time(value: object) -> object:
    """A date field's `2026-03-01`, or an ISO 8601 date-time as the API takes it."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return datetime.combine(datetime.fromisoformat(value).date(), time.min)
        except ValueError:
            pass
    return value


def _end_of(value: object) -> object:
    """`until` as a day includes the whole day."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return datetime.combine(datetime.fromisoformat(value).date(), time.max)
        except ValueError:
            pass
    return value


class AuditListQuery(ListQuery):
    """The API's filters (action, actor, target, time range); a day in the range counts whole."""

    action: str | None = Field(default=None, min_length=1, max_length=64)
    actor_id: uuid.UUID | None = None
    target_type: str | None = Field(default=None, min_length=1, max_length=32)
    target_id: str | None = Field(default=None, min_length=1, max_length=64)
    since: Annotated[datetime | None, BeforeValidator(_day_or_time)] = None
    until: Annotated[datetime | None, BeforeValidator(_end_of)] = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        """The API's rule of the range (times without a zone are UTC)."""
        since, until = self.since, self.until
        if since is not None and since.tzinfo is None:
            self.since = since = since.replace(tzinfo=UTC)
        if until is not None and until.tzinfo is None:
            self.until = until = until.replace(tzinfo=UTC)
        if since is not None and until is not None and since > until:
            raise ValueError("The start of the range must not be later than its end.")
        return self

    def as_filter(self) -> AuditEventFilter:
        """The filter of `GET /api/v1/audit`."""
        fields = ("action", "actor_id", "target_type", "target_id", "since", "until")
        return AuditEventFilter.model_validate({name: getattr(self, name) for name in fields})


@router.get("/audit")
async def audit_log(page: AuditReadPage) -> Response:
    """The workspace's audit log, newest first, by action, actor, target and date range."""
    view = read_query(page.request, AuditListQuery)
    events, total = await audit_service.list_events(
        page.session, flt=view.query.as_filter(), paging=view.query.paging
    )
    rows = [audit_event_read(e) for e in events]
    actor_label: Any = None
    if view.query.actor_id is not None:
        actor_label = next((r.actor.label for r in rows if r.actor.id == view.query.actor_id), None)
    context = {
        "view": view,
        "events": {"items": rows, "total": total, "page": view.query.page, "page_size": view.query.page_size},
        "action_options": [("", "Any action"), *((a.value, a.value) for a in AuditAction)],
        "actor_label": actor_label or (str(view.query.actor_id) if view.query.actor_id else None),
    }
    return render(page.request, "tenant/audit.html", context, status_code=view.status)
