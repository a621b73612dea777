"""The tenant console's billing pages: the plan and its usage, upgrading through Stripe Checkout, the
Customer Portal, and the pages Stripe sends the browser back to.

Each page calls the billing service exactly as the billing API does, behind the same gates
(billing:read to look, billing:manage to buy or manage). A refusal of the service (Stripe not
configured or not answering, another billing change in progress, a live subscription already) is
shown on the billing page itself, with the status the API would answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Response

from billing import service as billing_service
from billing.catalog import Interval, PlanSpec, get_catalog
from billing.exceptions import AlreadySubscribed, BillingUnavailable, UnknownPlan
from billing.schemas import BillingRead, CheckoutRequest
from billing.settings import get_billing_settings
from billing.stripe_client import get_client
from billing.subscriptions import LIVE
from platform_core.access.permissions import Permission
from platform_core.console.forms import read_form
from platform_core.console.templating import render
from platform_core.console.tenant.billing_banner import day, days_until, notice_of, overdue_from, usage_meters
from platform_core.console.tenant.pages import TenantPage, permission_page, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.errors import AppError

logger = logging.getLogger("platform.console")

router = tenant_router()

BillingReadPage = Annotated[TenantPage, Depends(permission_page(Permission.BILLING_READ))]
BillingManagePage = Annotated[TenantPage, Depends(permission_page(Permission.BILLING_MANAGE))]

# The statuses in which a new subscription's plan is in force: the return page stops waiting then.
ACTIVATED = frozenset({"trialing", "active"})
# How the return page waits for the webhook: a look every POLL_MS, at most POLL_MAX looks.
POLL_MS = 1500
POLL_MAX = 40

_STATUS = {
    "none": ("No subscription", ""),
    "trialing": ("Trial", "ok"),
    "active": ("Active", "ok"),
    "past_due": ("Past due", "warning"),
    "incomplete": ("Incomplete", "warning"),
    "unpaid": ("Unpaid", "danger"),
    "canceled": ("Canceled", "danger"),
    "incomplete_expired": ("Expired", "danger"),
    "paused": ("Paused", "danger"),
}
_PER = {Interval.MONTHLY.value: "month", Interval.YEARLY.value: "year"}
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$", "jpy": "¥"}
_ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "isk", "huf"})
_FEATURES = {
    "reports": "Reports",
    "api_keys": "API keys",
    "webhooks": "Webhooks",
    "audit_export": "Audit log export",
}


def money(amount: int, currency: str) -> str:
    """An amount in the currency's smallest unit, as a price: $29.00."""
    value = f"{amount:,}" if currency in _ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{value}" if symbol else f"{value} {currency.upper()}"


def size(count: int) -> str:
    """A number of bytes for people: 0 B, 512 KB, 1.5 GB, 50 GB."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            if unit == "B":
                return f"{count} B"
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def price_text(plan: PlanSpec, interval: str, currency: str) -> str:
    """What a plan costs per interval: "$29.00 per month", "$15.00 per seat per month"."""
    amount = plan.prices[Interval(interval)]
    seat = " per seat" if plan.per_seat else ""
    return f"{money(amount, currency)}{seat} per {_PER[interval]}"


@dataclass(frozen=True, slots=True)
class Meter:
    """One usage meter: how much of the plan's allowance is used."""

    label: str
    used: int
    allowed: int
    text: str

    @property
    def over(self) -> bool:
        """Whether usage is beyond what the plan allows (after a downgrade)."""
        return self.used > self.allowed

    @property
    def high(self) -> float:
        """Where the meter turns to a warning."""
        return self.allowed * 0.8


@dataclass(frozen=True, slots=True)
class Offer:
    """A plan of the catalogue as the page offers it: its prices and what it includes."""

    key: str
    name: str
    free: bool
    current: bool
    prices: list[tuple[str, str]]  # (interval, "$29.00 per month")
    trial_days: int
    includes: list[str]


def _offers(billing: BillingRead) -> list[Offer]:
    catalog = get_catalog()
    offers = []
    for plan in catalog.plans:
        ent = plan.entitlements
        includes = [
            f"{ent.seats} seat{'s' if ent.seats != 1 else ''}",
            f"{size(ent.storage_bytes)} of storage",
            f"API: {ent.api_rate_limit.replace('/', ' requests per ')}",
            *(_FEATURES.get(f.value, f.value) for f in sorted(ent.features)),
        ]
        offers.append(
            Offer(
                key=plan.key,
                name=plan.name,
                free=plan.is_free,
                current=plan.key == billing.plan.key,
                prices=[
                    (i.value, price_text(plan, i.value, catalog.currency))
                    for i in (Interval.MONTHLY, Interval.YEARLY)
                    if i in plan.prices
                ],
                trial_days=plan.trial_days,
                includes=includes,
            )
        )
    return offers


def _status_detail(billing: BillingRead) -> str:
    """What the subscription's status means, in a sentence."""
    now = utcnow()
    status = billing.status
    if status == "none":
        return "The free plan applies until you subscribe to a paid plan."
    if status == "trialing" and billing.trial_end is not None:
        days = days_until(billing.trial_end, now)
        left = f"{days} day{'s' if days != 1 else ''} left"
        if billing.cancel_at_period_end:
            return f"The subscription ends with the trial ({left}); nothing will be charged."
        return (
            "Everything in the plan is available during the trial; the first payment is due when it "
            f"ends ({left})."
        )
    if status == "active":
        return "The subscription is paid and in force."
    read_only_from = overdue_from(billing, now)
    if read_only_from is not None:
        if now < read_only_from:
            return (
                "The last payment failed and Stripe will try again. Everything keeps working until "
                f"{day(read_only_from)}; after that the workspace becomes read-only (nothing can be "
                "added or changed) until the invoice is paid. Update the payment method in the billing "
                "portal."
            )
        return (
            "The invoice is overdue: the workspace is read-only (nothing can be added or changed) until "
            "it is paid. Update the payment method in the billing portal."
        )
    if status == "incomplete":
        return "The first payment needs to be completed before the plan applies."
    return (
        "Only billing is available to this workspace until it subscribes again: choose a plan below."
        if status not in LIVE
        else "Only billing is available to this workspace until the subscription is paid."
    )


async def _billing_page(
    page: TenantPage,
    *,
    billing: BillingRead | None = None,
    checkout: str | None = None,
    problem: AppError | None = None,
) -> Response:
    if billing is None:
        billing = await billing_service.billing_state(page.session, page.tenant, usage_meters(page))
    catalog = get_catalog()
    plan = catalog.plan(billing.plan.key)
    enabled = get_billing_settings().stripe_enabled
    live = billing.status in LIVE
    manage = page.can(Permission.BILLING_MANAGE)
    context: dict[str, Any] = {
        "billing": billing,
        "state_notice": notice_of(billing),
        "status_label": _STATUS.get(billing.status, (billing.status.replace("_", " ").capitalize(), ""))[0],
        "status_tone": _STATUS.get(billing.status, ("", ""))[1],
        "status_detail": _status_detail(billing),
        "price": (
            price_text(plan, billing.interval, catalog.currency)
            if billing.interval in _PER and not plan.is_free and Interval(billing.interval) in plan.prices
            else None
        ),
        "trial_end": day(billing.trial_end) if billing.trial_end and billing.status == "trialing" else None,
        "period_end": day(billing.current_period_end) if billing.current_period_end else None,
        "meters": [
            Meter(
                "Seats",
                billing.seats_used,
                billing.seats_allowed,
                f"{billing.seats_used} of {billing.seats_allowed} used",
            ),
            Meter(
                "Storage",
                billing.storage_used_bytes,
                billing.storage_allowed_bytes,
                f"{size(billing.storage_used_bytes)} of {size(billing.storage_allowed_bytes)} used",
            ),
        ],
        "offers": _offers(billing),
        "billing_enabled": enabled,
        "can_manage": manage,
        "can_subscribe": manage and enabled and not live,
        "can_open_portal": manage and enabled and billing.status != "none",
        "live": live,
        "checkout": checkout if checkout in ("success", "cancel") else None,
        "activated": billing.status in ACTIVATED,
        "poll_ms": POLL_MS,
        "poll_max": POLL_MAX,
        "problem": problem,
    }
    response = render(
        page.request, "tenant/billing.html", context, status_code=problem.status_code if problem else 200
    )
    if problem is not None and problem.headers:
        response.headers.update(problem.headers)
    return response


@router.get("/settings/billing")
async def billing_page(page: BillingReadPage, checkout: str | None = None) -> Response:
    """The plan, its status and usage, the plans to upgrade to; `?checkout=success|cancel` is where
    Stripe Checkout sends the browser back (the success page waits for the webhook to activate it)."""
    return await _billing_page(page, checkout=checkout)


@router.post("/settings/billing/checkout")
async def start_checkout(page: BillingManagePage) -> Response:
    """Start a Stripe Checkout for the chosen plan and interval and send the browser there."""
    billing = await billing_service.billing_state(page.session, page.tenant, usage_meters(page))
    form = await read_form(page.request, CheckoutRequest)
    if form.model is None:
        return await _billing_page(
            page, billing=billing, problem=UnknownPlan("Choose one of the plans below.")
        )
    try:
        url = await billing_service.start_checkout(
            page.session,
            get_client(),
            page.settings,
            page.tenant,
            page.user.email,
            plan_key=form.model.plan,
            interval=form.model.interval,
            meters=usage_meters(page),
        )
    except (UnknownPlan, AlreadySubscribed, BillingUnavailable) as exc:
        logger.info("checkout refused: %s %s", exc.code, exc.message)
        return await _billing_page(page, billing=billing, problem=exc)
    return redirect(url)


@router.post("/settings/billing/portal")
async def open_portal(page: BillingManagePage) -> Response:
    """Open the Stripe Customer Portal (change the plan, the payment method, cancel)."""
    billing = await billing_service.billing_state(page.session, page.tenant, usage_meters(page))
    try:
        url = await billing_service.open_portal(
            page.session, get_client(), page.settings, page.tenant, page.user.email
        )
    except BillingUnavailable as exc:
        logger.info("portal refused: %s %s", exc.code, exc.message)
        return await _billing_page(page, billing=billing, problem=exc)
    return redirect(url)
