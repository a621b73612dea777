"""What the API shows of the audit log, and how it can be filtered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from platform_core.audit.models import AuditEvent
from platform_core.kernel.paging import Page


def _iso_8601(value: object) -> object:
    """Accept only ISO 8601 text: pydantic alone would also read numbers as Unix times (`until=0.5`)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("Expected an ISO 8601 date-time such as 2026-03-01T12:00:00Z.")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("Expected an ISO 8601 date-time such as 2026-03-01T12:00:00Z.") from None


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601)]


class AuditEventFilter(BaseModel):
    """Filters for listing events; all optional and combined with AND (naive datetimes are UTC)."""

    action: str | None = Field(default=None, min_length=1, max_length=64)
    actor_id: uuid.UUID | None = None
    target_type: str | None = Field(default=None, min_length=1, max_length=32)
    target_id: str | None = Field(default=None, min_length=1, max_length=64)
    since: IsoDateTime | None = Field(default=None, description="Events at or after this time (ISO 8601).")
    until: IsoDateTime | None = Field(default=None, description="Events at or before this time (ISO 8601).")

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        if self.since is not None and self.since.tzinfo is None:
            self.since = self.since.replace(tzinfo=UTC)
        if self.until is not None and self.until.tzinfo is None:
            self.until = self.until.replace(tzinfo=UTC)
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("`since` must not be later than `until`")
        return self


class AuditActor(BaseModel):
    """Who acted: a user, an API key, an operator, the system or an anonymous caller."""

    type: str
    id: uuid.UUID | None
    label: str | None


class AuditTarget(BaseModel):
    """What was acted on."""

    type: str | None
    id: str | None


class AuditEventRead(BaseModel):
    """One audit event."""

    id: uuid.UUID
    occurred_at: datetime
    action: str
    actor: AuditActor
    target: AuditTarget | None
    ip: str | None
    request_id: str | None
    details: dict[str, Any]


class AuditEventPage(Page[AuditEventRead]):
    """One page of events and the total matching the filters."""


def audit_event_read(event: AuditEvent) -> AuditEventRead:
    """Render an event as the API shows it (no target when the event has none)."""
    has_target = event.target_type is not None or event.target_id is not None
    return AuditEventRead(
        id=event.id,
        occurred_at=event.occurred_at,
        action=event.action,
        actor=AuditActor(type=event.actor_type, id=event.actor_id, label=event.actor_label),
        target=AuditTarget(type=event.target_type, id=event.target_id) if has_target else None,
        ip=event.ip,
        request_id=event.request_id,
        details=event.details or {},
    )
