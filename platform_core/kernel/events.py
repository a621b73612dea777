"""Domain events: what happened in a tenant, recorded in the transaction that made it happen.

A domain calls `record` (or `record_sync` in a task) with an event type of the catalogue and its data.
The event is a row of the tenant's `domain_event` table, numbered in order, and an outbox task
(`webhooks.fan_out`) written in the same transaction hands it to the subscribers once it commits: a
rolled-back change sends nothing, and a committed one is never lost. The catalogue names every event
and the schema of its data; the names and schemas are a public contract (webhook receivers depend on
them), so a change that is not additive gets a new version of the event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, Boolean, DateTime, Identity, Index, String, false, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from platform_core.kernel.context import tenant_id_var
from platform_core.kernel.db.base import TenantBase, utcnow
from platform_core.kernel.db.dialect import TenantNotBoundError
from platform_core.kernel.outbox import enqueue, enqueue_async

FAN_OUT_TASK = "webhooks.fan_out"
# Puts an event on its tenant's realtime channel (platform_core/realtime/tasks.py), for event types
# that have one: written with the event, so a committed change reaches connected clients too.
REALTIME_TASK = "realtime.publish_event"
REALTIME_CHANNELS = {"item.created": "items", "item.updated": "items", "item.deleted": "items"}
# Records an event in a tenant's schema for code that works in `public` (billing's Stripe events).
RECORD_EVENT_TASK = "webhooks.record_event"


class DomainEvent(TenantBase):
    """One thing that happened in the tenant, in the order the events were recorded (`seq`)."""

    __tablename__ = "domain_event"
    __table_args__ = (Index("ix_domain_event_pending", "seq", postgresql_where="NOT fanned_out"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True, nullable=False)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    fanned_out: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemData(_Data):
    """An item as it is after the change."""

    id: uuid.UUID
    title: str
    description: str | None
    status: Literal["open", "in_progress", "done"]
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class ItemDeletedData(_Data):
    """The item that was deleted."""

    id: uuid.UUID
    title: str


class MemberData(_Data):
    """A member of the workspace."""

    user_id: uuid.UUID
    email: str
    role: str


class UploadCompletedData(_Data):
    """A file whose upload finished."""

    id: uuid.UUID
    filename: str
    content_type: str
    size: int


class ReportCompletedData(_Data):
    """A report that is ready to download."""

    report_id: uuid.UUID
    job_id: uuid.UUID
    kind: str
    filename: str
    size: int


class SubscriptionData(_Data):
    """The workspace's subscription after Stripe's change."""

    plan: str
    status: str
    current_period_end: datetime | None
    cancel_at_period_end: bool


class WebhookTestData(_Data):
    """Sent by "send test event": it changes nothing."""

    endpoint_id: uuid.UUID
    message: str


@dataclass(frozen=True, slots=True)
class EventType:
    """A kind of event: its stable name, the version of its data's schema, and that schema."""

    name: str
    version: int
    description: str
    data: type[BaseModel]


CATALOG: dict[str, EventType] = {
    e.name: e
    for e in (
        EventType("item.created", 1, "An item was created.", ItemData),
        EventType("item.updated", 1, "An item was changed.", ItemData),
        EventType("item.deleted", 1, "An item was deleted.", ItemDeletedData),
        EventType("member.joined", 1, "Someone joined the workspace (invitation or sign-up).", MemberData),
        EventType("member.removed", 1, "A member was removed, or left.", MemberData),
        EventType("member.role_changed", 1, "A member's role changed.", MemberData),
        EventType("upload.completed", 1, "A file finished uploading.", UploadCompletedData),
        EventType("report.completed", 1, "A report is ready to download.", ReportCompletedData),
        EventType("subscription.updated", 1, "The subscription's plan or status changed.", SubscriptionData),
        EventType("webhook.test", 1, "A test event sent from the endpoint's page or API.", WebhookTestData),
    )
}


class EventPayload(BaseModel):
    """What a subscriber receives: the event's type, when it happened, and its data."""

    type: str = Field(description="The event type, e.g. `item.created`.")
    timestamp: datetime = Field(description="When the event happened (ISO 8601, UTC).")
    data: dict[str, Any] = Field(description="The event's data; its schema is the event type's.")


def new_event_id() -> str:
    """A unique event id (sent as `webhook-id`: receivers use it to drop duplicates)."""
    return f"msg_{uuid.uuid4().hex}"


def _row(event_type: str, data: BaseModel | dict[str, Any]) -> dict[str, Any]:
    kind = CATALOG.get(event_type)
    if kind is None:
        raise ValueError(f"unknown event type {event_type!r}: add it to the catalogue first")
    model = kind.data.model_validate(data.model_dump() if isinstance(data, BaseModel) else data)
    payload = {"type": event_type, "timestamp": utcnow().isoformat(), "data": model.model_dump(mode="json")}
    return {"id": new_event_id(), "type": event_type, "payload": payload}


def _tenant(tenant_id: uuid.UUID | str | None) -> str:
    """The tenant the event belongs to: the one given, else the request's or task's tenant."""
    found = tenant_id if tenant_id is not None else tenant_id_var.get()
    if found is None:
        raise TenantNotBoundError("an event is recorded for a tenant: none is bound here")
    return str(found)


async def record(
    session: AsyncSession,
    event_type: str,
    data: BaseModel | dict[str, Any],
    *,
    tenant_id: uuid.UUID | str | None = None,
) -> str:
    """Record an event in the session's transaction (bound to the tenant's schema); its id."""
    row = _row(event_type, data)
    session.add(DomainEvent(**row))
    tenant = _tenant(tenant_id)
    await enqueue_async(session, FAN_OUT_TASK, tenant_id=tenant, event_id=row["id"])
    if event_type in REALTIME_CHANNELS:
        await enqueue_async(session, REALTIME_TASK, tenant_id=tenant, event_id=row["id"])
    return str(row["id"])


def record_sync(
    session: Session,
    event_type: str,
    data: BaseModel | dict[str, Any],
    *,
    tenant_id: uuid.UUID | str | None = None,
) -> str:
    """`record` for sync sessions (tasks, the CLI)."""
    row = _row(event_type, data)
    session.add(DomainEvent(**row))
    tenant = _tenant(tenant_id)
    enqueue(session, FAN_OUT_TASK, tenant_id=tenant, event_id=row["id"])
    if event_type in REALTIME_CHANNELS:
        enqueue(session, REALTIME_TASK, tenant_id=tenant, event_id=row["id"])
    return str(row["id"])
