"""Webhook endpoints for the API and the console. Services never commit: the request does, once."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.actor import Actor
from platform_core.audit import service as audit
from platform_core.audit.service import AuditAction
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.events import WebhookTestData, new_event_id
from platform_core.kernel.outbox import enqueue_async
from platform_core.kernel.paging import PageParams
from platform_core.webhooks import repository as webhook_repository
from platform_core.webhooks import signing, targets
from platform_core.webhooks.exceptions import (
    DeliveryNotFound,
    EndpointNotFound,
    TargetNotAllowed,
    TooManyEndpoints,
)
from platform_core.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from platform_core.webhooks.schemas import (
    DeliveryPage,
    DeliveryRead,
    EndpointCreate,
    EndpointPage,
    EndpointRead,
    EndpointUpdate,
)
from platform_core.webhooks.settings import get_webhook_settings

DELIVER_TASK = "webhooks.deliver"
MAX_ENDPOINTS = 20
TARGET = "webhook_endpoint"


async def check_target(url: str) -> None:
    """Refuse (422) a URL that may not receive webhooks: resolved now, every address checked."""
    allow = get_webhook_settings().allow_private_targets
    try:
        await anyio.to_thread.run_sync(functools.partial(targets.resolve, url, allow_private=allow))
    except targets.TargetRefused as exc:
        raise TargetNotAllowed(f"This URL cannot receive webhooks: {exc}.", details={"field": "url"}) from exc


async def wake(session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    """Have a worker deliver what the endpoint has waiting (once this transaction commits)."""
    await enqueue_async(session, DELIVER_TASK, tenant_id=tenant_id, endpoint_id=str(endpoint_id))


async def list_endpoints(session: AsyncSession, paging: PageParams) -> EndpointPage:
    """A page of the tenant's endpoints."""
    rows, total = await webhook_repository.list_endpoints(session, paging)
    return EndpointPage.of([EndpointRead.model_validate(r) for r in rows], total, paging)


async def get_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    """An endpoint of this tenant (404 otherwise)."""
    endpoint = await webhook_repository.get_endpoint(session, endpoint_id, lock=lock)
    if endpoint is None:
        raise EndpointNotFound
    return endpoint


async def create_endpoint(session: AsyncSession, actor: Actor, body: EndpointCreate) -> WebhookEndpoint:
    """Register an endpoint with a fresh secret (the caller shows it once)."""
    await check_target(body.url)
    if await webhook_repository.count_endpoints(session) >= MAX_ENDPOINTS:
        raise TooManyEndpoints(f"A workspace has at most {MAX_ENDPOINTS} webhook endpoints.")
    endpoint = await webhook_repository.add_endpoint(
        session,
        WebhookEndpoint(
            url=body.url, events=body.events, description=body.description, secret=signing.new_secret()
        ),
    )
    await audit.record(
        session,
        AuditAction.WEBHOOK_ENDPOINT_CREATED,
        actor,
        target_type=TARGET,
        target_id=endpoint.id,
        details={"url": endpoint.url, "events": endpoint.events},
    )
    return endpoint


async def update_endpoint(
    session: AsyncSession, tenant_id: uuid.UUID, actor: Actor, endpoint: WebhookEndpoint, body: EndpointUpdate
) -> WebhookEndpoint:
    """Change an endpoint; enabling it again clears its failure record and resumes its deliveries."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes and changes["url"] != endpoint.url:
        await check_target(changes["url"])
    if changes.get("enabled") and not endpoint.enabled:
        endpoint.disabled_reason = None
        endpoint.failing_since = None
        endpoint.failures_in_a_row = 0
        await wake(session, tenant_id, endpoint.id)
    elif changes.get("enabled") is False and endpoint.enabled:
        endpoint.disabled_reason = f"disabled by {actor.label or actor.type.value}"
    for field, value in changes.items():
        setattr(endpoint, field, value)
    endpoint = await webhook_repository.save(session, endpoint)
    if changes:
        await audit.record(
            session,
            AuditAction.WEBHOOK_ENDPOINT_UPDATED,
            actor,
            target_type=TARGET,
            target_id=endpoint.id,
            details={"changed": sorted(changes)},
        )
    return endpoint


async def delete_endpoint(session: AsyncSession, actor: Actor, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint: nothing more is sent to it."""
    endpoint.deleted_at = utcnow()
    endpoint.enabled = False
    await webhook_repository.save(session, endpoint)
    await audit.record(
        session,
        AuditAction.WEBHOOK_ENDPOINT_DELETED,
        actor,
        target_type=TARGET,
        target_id=endpoint.id,
        details={"url": endpoint.url},
    )


async def rotate_secret(session: AsyncSession, actor: Actor, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret; the previous one keeps signing beside it for WEBHOOK_PREVIOUS_SECRET_HOURS."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = utcnow() + timedelta(hours=get_webhook_settings().previous_secret_hours)
    endpoint.secret = signing.new_secret()
    endpoint = await webhook_repository.save(session, endpoint)
    await audit.record(
        session, AuditAction.WEBHOOK_SECRET_ROTATED, actor, target_type=TARGET, target_id=endpoint.id
    )
    return endpoint


async def send_test(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint: WebhookEndpoint
) -> WebhookDelivery:
    """Send a `webhook.test` event to this endpoint only; its delivery, to follow in the log."""
    data = WebhookTestData(endpoint_id=endpoint.id, message="A test event: if you can read this, it works.")
    event = {
        "id": new_event_id(),
        "type": "webhook.test",
        "payload": {
            "type": "webhook.test",
            "timestamp": utcnow().isoformat(),
            "data": data.model_dump(mode="json"),
        },
    }
    delivery = await webhook_repository.add_test_event(session, endpoint, event, utcnow())
    await wake(session, tenant_id, endpoint.id)
    return delivery


async def list_deliveries(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    flt: webhook_repository.DeliveryFilter,
    paging: PageParams,
) -> DeliveryPage:
    """A page of an endpoint's delivery log, newest first."""
    rows, total = await webhook_repository.list_deliveries(session, endpoint.id, flt, paging)
    return DeliveryPage.of([DeliveryRead.model_validate(r) for r in rows], total, paging)


async def redeliver(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Actor,
    endpoint: WebhookEndpoint,
    delivery_id: uuid.UUID,
) -> WebhookDelivery:
    """Send a delivery again now (one more attempt, whatever its state)."""
    delivery = await webhook_repository.get_delivery(session, endpoint.id, delivery_id)
    if delivery is None:
        raise DeliveryNotFound
    delivery.status = DeliveryStatus.PENDING.value
    delivery.next_attempt_at = utcnow()
    delivery.first_attempt_at = None
    delivery = await webhook_repository.save(session, delivery)
    await wake(session, tenant_id, endpoint.id)
    await audit.record(
        session,
        AuditAction.WEBHOOK_REDELIVERED,
        actor,
        target_type=TARGET,
        target_id=endpoint.id,
        details={"delivery_id": str(delivery.id), "event_id": delivery.event_id},
    )
    return delivery


async def replay_failed(
    session: AsyncSession, tenant_id: uuid.UUID, actor: Actor, endpoint: WebhookEndpoint, since: datetime
) -> int:
    """Send again every failed delivery of the endpoint's events since `since`; how many."""
    count = await webhook_repository.requeue_failed(session, endpoint.id, since, utcnow())
    if count:
        await wake(session, tenant_id, endpoint.id)
    await audit.record(
        session,
        AuditAction.WEBHOOK_REPLAYED,
        actor,
        target_type=TARGET,
        target_id=endpoint.id,
        details={"since": since.isoformat(), "requeued": count},
    )
    return count
