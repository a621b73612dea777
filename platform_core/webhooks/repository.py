"""Webhook queries: endpoints and deliveries for the API (async), fan-out and delivery for the workers
(sync). The session is bound to the tenant's schema before it gets here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, any_, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_core.access.models import Role, User
from platform_core.access.permissions import Permission
from platform_core.kernel.events import DomainEvent
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page, insert
from platform_core.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

PENDING = DeliveryStatus.PENDING.value


# --- The API's side -------------------------------------------------------------------------------


def _live_endpoints() -> Select[Any]:
    return select(WebhookEndpoint).where(WebhookEndpoint.deleted_at.is_(None))


async def list_endpoints(session: AsyncSession, paging: PageParams) -> tuple[list[WebhookEndpoint], int]:
    """A page of the tenant's endpoints, oldest first."""
    stmt = _live_endpoints().order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    return await fetch_page(session, stmt, paging=paging)


async def count_endpoints(session: AsyncSession) -> int:
    """How many endpoints the tenant has."""
    stmt = select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.deleted_at.is_(None))
    return int((await session.execute(stmt)).scalar_one())


async def get_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint | None:
    """A live endpoint by id."""
    stmt = _live_endpoints().where(WebhookEndpoint.id == endpoint_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Insert an endpoint and read back its defaults."""
    return await insert(session, endpoint)


async def save(session: AsyncSession, row: Any) -> Any:
    """Write a changed row and read back what the database set."""
    await session.flush()
    await session.refresh(row)
    return row


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    """Which deliveries of an endpoint to list."""

    status: str | None = None
    event_type: str | None = None


async def list_deliveries(
    session: AsyncSession, endpoint_id: uuid.UUID, flt: DeliveryFilter, paging: PageParams
) -> tuple[list[WebhookDelivery], int]:
    """A page of an endpoint's deliveries, newest first."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if flt.status:
        stmt = stmt.where(WebhookDelivery.status == flt.status)
    if flt.event_type:
        stmt = stmt.where(WebhookDelivery.event_type == flt.event_type)
    stmt = stmt.order_by(WebhookDelivery.event_seq.desc(), WebhookDelivery.id)
    return await fetch_page(session, stmt, paging=paging)


async def get_delivery(
    session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery | None:
    """One delivery of one endpoint."""
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
    )
    return (await session.execute(stmt.with_for_update())).scalar_one_or_none()


async def requeue_failed(
    session: AsyncSession, endpoint_id: uuid.UUID, since: datetime, now: datetime
) -> int:
    """Put an endpoint's failed deliveries of events since `since` back in line; how many."""
    stmt = (
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.FAILED.value,
            WebhookDelivery.created_at >= since,
        )
        .values(status=PENDING, next_attempt_at=now, first_attempt_at=None)
    )
    result = await session.execute(stmt)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def add_test_event(
    session: AsyncSession, endpoint: WebhookEndpoint, event: dict[str, Any], now: datetime
) -> WebhookDelivery:
    """A `webhook.test` event for one endpoint only, with its delivery (no fan-out to the others)."""
    session.add(DomainEvent(**event, fanned_out=True))
    await session.flush()
    seq = (await session.execute(select(DomainEvent.seq).where(DomainEvent.id == event["id"]))).scalar_one()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event["id"],
        event_seq=seq,
        event_type=event["type"],
        status=PENDING,
        next_attempt_at=now,
    )
    return await insert(session, delivery)


async def event_payload(session: AsyncSession, event_id: str) -> dict[str, Any] | None:
    """An event's payload."""
    stmt = select(DomainEvent.payload).where(DomainEvent.id == event_id)
    return (await session.execute(stmt)).scalar_one_or_none()


# --- The workers' side ----------------------------------------------------------------------------


def fan_out(session: Session, event_id: str) -> list[uuid.UUID]:
    """Give an event a delivery for each enabled endpoint subscribed to its type, once; the endpoints."""
    event = session.execute(
        select(DomainEvent).where(DomainEvent.id == event_id).with_for_update()
    ).scalar_one_or_none()
    if event is None or event.fanned_out:
        return []
    endpoints = (
        session.execute(
            select(WebhookEndpoint.id).where(
                WebhookEndpoint.deleted_at.is_(None),
                WebhookEndpoint.enabled.is_(True),
                literal(event.type) == any_(WebhookEndpoint.events),
            )
        )
        .scalars()
        .all()
    )
    for endpoint_id in endpoints:
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint_id,
                event_id=event.id,
                event_seq=event.seq,
                event_type=event.type,
                status=PENDING,
            )
        )
    event.fanned_out = True
    session.flush()
    return list(endpoints)


def lease(session: Session, endpoint_id: uuid.UUID, seconds: float) -> bool:
    """Take (or extend) the endpoint's delivery lease, unless another worker holds a live one."""
    now = func.now()
    stmt = (
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            or_(WebhookEndpoint.lease_until.is_(None), WebhookEndpoint.lease_until < now),
        )
        .values(lease_until=now + timedelta(seconds=seconds))
        .returning(WebhookEndpoint.id)
    )
    return session.execute(stmt).first() is not None


def renew(session: Session, endpoint_id: uuid.UUID, seconds: float) -> None:
    """Extend the lease this worker holds."""
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(lease_until=func.now() + timedelta(seconds=seconds))
    )


def release(session: Session, endpoint_id: uuid.UUID) -> None:
    """Give the lease back."""
    session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(lease_until=None))


def endpoint(session: Session, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    """A live endpoint (for a worker)."""
    stmt = _live_endpoints().where(WebhookEndpoint.id == endpoint_id)
    return session.execute(stmt).scalar_one_or_none()


def pending_in_order(session: Session, endpoint_id: uuid.UUID, limit: int = 50) -> list[WebhookDelivery]:
    """The endpoint's pending deliveries in event order, up to the first event not fanned out yet (an
    event recorded before it could still gain a delivery here, which must go first)."""
    unfanned = select(func.min(DomainEvent.seq)).where(DomainEvent.fanned_out.is_(False)).scalar_subquery()
    stmt = (
        select(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == PENDING,
            or_(unfanned.is_(None), WebhookDelivery.event_seq < unfanned),
        )
        .order_by(WebhookDelivery.event_seq)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def payload_of(session: Session, event_id: str) -> dict[str, Any]:
    """The payload of an event (for a worker)."""
    payload: dict[str, Any] = session.execute(
        select(DomainEvent.payload).where(DomainEvent.id == event_id)
    ).scalar_one()
    return payload


def delivery(session: Session, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    """A delivery, locked (for a worker recording an attempt)."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def endpoint_locked(session: Session, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    """An endpoint, locked (for a worker updating its health)."""
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def admin_emails(session: Session) -> list[str]:
    """The addresses of the members who manage webhooks (owners and admins, custom roles included)."""
    stmt = (
        select(User.email)
        .join(Role, Role.id == User.role_id)
        .where(
            User.is_active.is_(True),
            or_(
                Role.name.in_(("owner", "admin")) & Role.builtin.is_(True),
                and_(
                    Role.builtin.is_(False),
                    literal(Permission.WEBHOOKS_MANAGE.value) == any_(Role.permissions),
                ),
            ),
        )
        .order_by(User.email)
    )
    return list(session.execute(stmt).scalars())


def prune_events(session: Session, before: datetime) -> int:
    """Delete events (and with them their deliveries) recorded before `before`; how many."""
    from sqlalchemy import delete

    result = session.execute(
        delete(DomainEvent).where(DomainEvent.created_at < before, DomainEvent.fanned_out.is_(True))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
