"""HTTP routes: webhook endpoints, their delivery log, and the event catalogue (webhooks:manage, and the
plan's `webhooks` feature for the endpoints)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from billing.dependencies import WebhooksFeature
from platform_core.access.dependencies import WebhooksManage
from platform_core.kernel.errors import raises
from platform_core.kernel.paging import PageDep
from platform_core.kernel.tenancy import TenantSessionDep
from platform_core.webhooks import service as webhook_service
from platform_core.webhooks.exceptions import (
    DeliveryNotFound,
    EndpointNotFound,
    TargetNotAllowed,
    TooManyEndpoints,
)
from platform_core.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from platform_core.webhooks.repository import DeliveryFilter
from platform_core.webhooks.schemas import (
    DeliveryPage,
    DeliveryRead,
    EndpointCreate,
    EndpointPage,
    EndpointRead,
    EndpointUpdate,
    EndpointWithSecret,
    EventTypeRead,
    ReplayAccepted,
    ReplayRequest,
    catalog,
)

events_router = APIRouter(prefix="/api/v1/webhook-events", tags=["webhooks"])
router = APIRouter(prefix="/api/v1/webhook-endpoints", tags=["webhooks"])


@events_router.get("", response_model=list[EventTypeRead])
async def list_event_types(principal: WebhooksManage) -> list[EventTypeRead]:
    """The event catalogue: every event type, its version and the JSON schema of its `data`."""
    return catalog()


@raises(EndpointNotFound)
async def current_endpoint(endpoint_id: uuid.UUID, session: TenantSessionDep) -> WebhookEndpoint:
    """The endpoint named in the path, in this tenant (404 otherwise)."""
    return await webhook_service.get_endpoint(session, endpoint_id, lock=True)


CurrentEndpoint = Annotated[WebhookEndpoint, Depends(current_endpoint)]


@router.post("", status_code=201, response_model=EndpointWithSecret)
@raises(TargetNotAllowed, TooManyEndpoints)
async def create_endpoint(
    principal: WebhooksManage, tenant: WebhooksFeature, body: EndpointCreate, session: TenantSessionDep
) -> WebhookEndpoint:
    """Register an endpoint; the answer carries its signing secret, shown only now."""
    return await webhook_service.create_endpoint(session, principal.actor, body)


@router.get("", response_model=EndpointPage)
async def list_endpoints(
    principal: WebhooksManage, tenant: WebhooksFeature, session: TenantSessionDep, paging: PageDep
) -> EndpointPage:
    """The tenant's endpoints (without their secrets)."""
    return await webhook_service.list_endpoints(session, paging)


@router.get("/{endpoint_id}", response_model=EndpointRead)
async def get_endpoint(
    principal: WebhooksManage, tenant: WebhooksFeature, endpoint: CurrentEndpoint
) -> WebhookEndpoint:
    """One endpoint (without its secret)."""
    return endpoint


@router.patch("/{endpoint_id}", response_model=EndpointRead)
@raises(TargetNotAllowed)
async def update_endpoint(
    principal: WebhooksManage,
    tenant: WebhooksFeature,
    endpoint: CurrentEndpoint,
    body: EndpointUpdate,
    session: TenantSessionDep,
) -> WebhookEndpoint:
    """Change the URL, events, description, or enable/disable; enabling resumes waiting deliveries."""
    return await webhook_service.update_endpoint(session, tenant.id, principal.actor, endpoint, body)


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(
    principal: WebhooksManage, tenant: WebhooksFeature, endpoint: CurrentEndpoint, session: TenantSessionDep
) -> None:
    """Delete an endpoint: nothing more is sent to it."""
    await webhook_service.delete_endpoint(session, principal.actor, endpoint)


@router.post("/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
async def rotate_secret(
    principal: WebhooksManage, tenant: WebhooksFeature, endpoint: CurrentEndpoint, session: TenantSessionDep
) -> WebhookEndpoint:
    """A new signing secret (shown only now); the previous one signs beside it for 24 hours."""
    return await webhook_service.rotate_secret(session, principal.actor, endpoint)


@router.post("/{endpoint_id}/test", status_code=202, response_model=DeliveryRead)
async def send_test_event(
    principal: WebhooksManage, tenant: WebhooksFeature, endpoint: CurrentEndpoint, session: TenantSessionDep
) -> WebhookDelivery:
    """Send a `webhook.test` event to this endpoint; follow it in the delivery log."""
    return await webhook_service.send_test(session, tenant.id, endpoint)


@router.get("/{endpoint_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    principal: WebhooksManage,
    tenant: WebhooksFeature,
    endpoint: CurrentEndpoint,
    session: TenantSessionDep,
    paging: PageDep,
    status: DeliveryStatus | None = None,
    event_type: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> DeliveryPage:
    """The endpoint's delivery log, newest first, by status and event type."""
    flt = DeliveryFilter(status=status.value if status else None, event_type=event_type)
    return await webhook_service.list_deliveries(session, endpoint, flt, paging)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver", status_code=202, response_model=DeliveryRead
)
@raises(DeliveryNotFound)
async def redeliver(
    principal: WebhooksManage,
    tenant: WebhooksFeature,
    endpoint: CurrentEndpoint,
    delivery_id: uuid.UUID,
    session: TenantSessionDep,
) -> WebhookDelivery:
    """Send one delivery again now."""
    return await webhook_service.redeliver(session, tenant.id, principal.actor, endpoint, delivery_id)


@router.post("/{endpoint_id}/replay", status_code=202, response_model=ReplayAccepted)
async def replay_failed(
    principal: WebhooksManage,
    tenant: WebhooksFeature,
    endpoint: CurrentEndpoint,
    body: ReplayRequest,
    session: TenantSessionDep,
) -> ReplayAccepted:
    """Send again every failed delivery of events since `since`."""
    count = await webhook_service.replay_failed(session, tenant.id, principal.actor, endpoint, body.since)
    return ReplayAccepted(requeued=count)
