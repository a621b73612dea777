"""HTTP routes: the tenant's billing (tenant host) and Stripe's webhooks (platform host)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from billing import service as billing_service
from billing import webhooks
from billing.exceptions import (
    AlreadySubscribed,
    BillingUnavailable,
    InvalidSignature,
    MalformedEvent,
    UnknownPlan,
    WebhooksDisabled,
)
from billing.schemas import BillingRead, CheckoutRequest, RedirectRead, WebhookAck
from billing.settings import get_billing_settings
from billing.stripe_client import get_client
from billing.usage import UsageMeters
from platform_core.access.dependencies import PUBLIC, BillingManage, BillingReadDep
from platform_core.kernel.errors import raises
from platform_core.kernel.tenancy import PlatformHostDep, PublicSessionDep, TenantDep, TenantSessionDep

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])
webhook_router = APIRouter(tags=["billing"])


def _meters(request: Request) -> UsageMeters:
    return request.app.state.usage_meters


@router.get("", response_model=BillingRead)
async def get_billing(
    principal: BillingReadDep, tenant: TenantDep, request: Request, session: TenantSessionDep
) -> BillingRead:
    """The plan, subscription status, period, and seats and storage used against the plan."""
    return await billing_service.billing_state(session, tenant, _meters(request))


@router.post("/checkout", response_model=RedirectRead)
@raises(UnknownPlan, AlreadySubscribed, BillingUnavailable)
async def start_checkout(
    principal: BillingManage,
    tenant: TenantDep,
    body: CheckoutRequest,
    request: Request,
    session: TenantSessionDep,
) -> RedirectRead:
    """A Stripe Checkout URL to subscribe to a paid plan (409 when a subscription is already live)."""
    url = await billing_service.start_checkout(
        session,
        get_client(),
        request.app.state.settings,
        tenant,
        principal.email,
        plan_key=body.plan,
        interval=body.interval,
        meters=_meters(request),
    )
    return RedirectRead(url=url)


@router.post("/portal", response_model=RedirectRead)
@raises(BillingUnavailable)
async def open_portal(
    principal: BillingManage, tenant: TenantDep, request: Request, session: TenantSessionDep
) -> RedirectRead:
    """A Stripe Customer Portal URL to change the plan, payment method or cancel."""
    url = await billing_service.open_portal(
        session, get_client(), request.app.state.settings, tenant, principal.email
    )
    return RedirectRead(url=url)


@webhook_router.post("/webhooks/stripe", response_model=WebhookAck, dependencies=[PUBLIC])
@raises(WebhooksDisabled, InvalidSignature, MalformedEvent)
async def receive_stripe_event(
    request: Request, platform: PlatformHostDep, session: PublicSessionDep
) -> WebhookAck:
    """Receive a Stripe event: verified on the raw body, stored once, processed in the billing queue."""
    event = webhooks.verify_event(
        await request.body(), request.headers.get("stripe-signature"), get_billing_settings().webhook_secrets
    )
    stored = await webhooks.store_event(session, event)
    return WebhookAck(received=True, duplicate=not stored)
