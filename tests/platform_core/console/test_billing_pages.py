"""The tenant console's billing pages over HTTP: the plan and usage of each tenant, who may see and do
what, the return pages of checkout, the CSRF check, and billing that is unavailable or busy.

Tenant alpha is on Pro (active, no Stripe customer yet); tenant beta never subscribed (free). Without
STRIPE_API_KEY paid plans are unavailable; with a key and no Stripe behind it, the pages render the
same and only the service's refusals before any Stripe call are reached. The portal's redirect is
checked against localstripe behind the stand-in.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from billing.catalog import get_catalog
from billing.models import BillingAccount
from billing.schemas import BillingRead
from billing.service import plan_read
from billing.settings import get_billing_settings
from billing.stripe_client import get_client
from platform_core.access.permissions import builtin_role_id
from platform_core.console.tenant.billing_banner import notice_of
from platform_core.kernel.db.base import utcnow
from tests.conftest import client_for, host_of, subscribed
from tests.factories import PASSWORD, UserFactory, create_user
from tests.platform_core.console.support import console_sign_in, csrf_of

UPGRADE = re.compile(r"Upgrade to (\w+), (monthly|yearly)")


def _configure_stripe(monkeypatch: pytest.MonkeyPatch, key: str, base: str = "", **extra: str) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", key)
    monkeypatch.setenv("STRIPE_API_BASE", base)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    get_billing_settings.cache_clear()
    get_client.cache_clear()


@pytest.fixture
def no_stripe(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Paid plans not configured (no STRIPE_API_KEY)."""
    _configure_stripe(monkeypatch, "")
    yield
    get_billing_settings.cache_clear()
    get_client.cache_clear()


@pytest.fixture
def stripe_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A Stripe key with nothing behind it: pages offer paid plans; a call to Stripe would fail."""
    _configure_stripe(monkeypatch, "sk_test_console_pages", "http://127.0.0.1:9")
    yield
    get_billing_settings.cache_clear()
    get_client.cache_clear()


@pytest.fixture(scope="module")
def standin_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """localstripe behind the stand-in, for the portal's redirect."""
    from platform_core.devstack.stripe_servers import local_stripe

    with local_stripe(tmp_path_factory.mktemp("stripe")) as url:
        yield url


@asynccontextmanager
async def _browser(app: Any, tenant: Any, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, host_of(tenant)) as client:
        signed = await console_sign_in(client, email)
        assert signed.status_code == 303, signed.text
        yield client


@pytest.fixture
async def owner_page_a(app, tenant_a, owner_a) -> Any:
    """Alpha's owner, signed in to the console."""
    async with _browser(app, tenant_a, owner_a.email) as client:
        yield client


@pytest.fixture
async def owner_page_b(app, tenant_b, owner_b) -> Any:
    """Beta's owner, signed in to the console."""
    async with _browser(app, tenant_b, owner_b.email) as client:
        yield client


@pytest.fixture
async def member_page_a(app, db, tenant_a) -> Any:
    """A member of alpha (billing:read, not billing:manage), signed in."""
    user = await create_user(db, tenant_a, role="member", email="member@alpha.example.org")
    async with _browser(app, tenant_a, user.email) as client:
        yield client


def _upgrades(html: str) -> set[tuple[str, str]]:
    return set(UPGRADE.findall(html))


async def _post(client: httpx.AsyncClient, action: str, data: dict[str, str] | None = None) -> httpx.Response:
    page = await client.get("/settings/billing")
    assert page.status_code == 200, page.text
    return await client.post(action, data={"csrf_token": csrf_of(page.text), **(data or {})})


async def test_a_paying_tenant_sees_its_plan_status_and_usage(owner_page_a, no_stripe):
    response = await owner_page_a.get("/settings/billing")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<p class="billing-plan-name">Pro' in html
    assert '<span class="status ok">Active</span>' in html
    assert re.search(r"\d+ of 20 used", html)  # seats: members and open invitations
    assert "0 B of 50 GB used" in html
    assert re.search(r'<meter min="0" max="20" value="\d+"', html)
    assert 'aria-current="page"' in html
    assert 'href="/settings/billing"' in html
    assert "Current plan</span>" in html  # the Pro offer is marked
    assert _upgrades(html) == set()
    assert "Manage billing" not in html  # Stripe is not configured here
    assert "Paid plans are not available on this platform right now." in html


async def test_a_free_tenant_sees_the_free_plan_and_the_plans_to_upgrade_to(owner_page_b, stripe_key):
    html = (await owner_page_b.get("/settings/billing")).text
    assert '<p class="billing-plan-name">Free</p>' in html
    assert "No subscription" in html
    assert "The free plan applies until you subscribe to a paid plan." in html
    assert re.search(r"\d+ of 3 used", html)
    assert "0 B of 1 GB used" in html
    assert _upgrades(html) == {
        ("Pro", "monthly"),
        ("Pro", "yearly"),
        ("Business", "monthly"),
        ("Business", "yearly"),
    }
    assert "$29.00 per month" in html
    assert "$290.00 per year" in html
    assert "$15.00 per seat per month" in html
    assert "14-day free trial" in html
    assert "Manage billing" not in html  # nothing to manage before a subscription
    assert 'action="/settings/billing/checkout"' in html


async def test_a_live_subscription_is_managed_in_the_portal_not_bought_again(owner_page_a, stripe_key):
    html = (await owner_page_a.get("/settings/billing")).text
    assert _upgrades(html) == set()
    assert "Manage billing" in html
    assert 'action="/settings/billing/portal"' in html
    assert "To change the plan, the payment method or to cancel, use <strong>Manage billing</strong>." in html


async def test_a_member_sees_billing_but_no_buttons_and_cannot_post(member_page_a, stripe_key):
    page = await member_page_a.get("/settings/billing")
    assert page.status_code == 200
    assert "Manage billing" not in page.text
    assert _upgrades(page.text) == set()
    assert "Only someone who can manage billing (an owner) can change the plan." in page.text
    for action, data in (
        ("/settings/billing/checkout", {"plan": "pro", "interval": "monthly"}),
        ("/settings/billing/portal", {}),
    ):
        refused = await _post(member_page_a, action, data)
        assert refused.status_code == 403
        assert "You cannot open this page" in refused.text


async def test_without_billing_read_the_page_is_403(app, db, tenant_a):
    viewer = await create_user(db, tenant_a, role="viewer", email="viewer@alpha.example.org")
    async with _browser(app, tenant_a, viewer.email) as client:
        response = await client.get("/settings/billing")
        home = await client.get("/")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "You cannot open this page" in response.text
    assert 'href="/settings/billing"' not in home.text  # and the nav does not offer it


async def test_a_visitor_is_sent_to_sign_in(anon_a):
    response = await anon_a.get("/settings/billing?checkout=success")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/settings/billing%3Fcheckout%3Dsuccess"


@pytest.mark.parametrize("action", ["/settings/billing/checkout", "/settings/billing/portal"])
async def test_a_post_without_the_csrf_token_is_refused(owner_page_b, stripe_key, action):
    response = await owner_page_b.post(action, data={"plan": "pro", "interval": "monthly"})
    assert response.status_code == 403
    assert "reload the page and try again" in response.text
    with_wrong_token = await owner_page_b.post(action, data={"plan": "pro", "csrf_token": "0" * 64})
    assert with_wrong_token.status_code == 403


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"plan": "platinum", "interval": "monthly"}, "No plan &#39;platinum&#39;."),
        ({"plan": "free", "interval": "monthly"}, "The Free plan cannot be bought monthly."),
        ({"plan": "pro", "interval": "weekly"}, "Choose one of the plans below."),
    ],
)
async def test_a_plan_that_cannot_be_bought_is_explained_on_the_page(owner_page_b, stripe_key, data, message):
    response = await _post(owner_page_b, "/settings/billing/checkout", data)
    assert response.status_code == 422
    assert message in response.text
    assert '<div class="banner danger" role="alert">' in response.text
    assert "<h1>Billing</h1>" in response.text  # the billing page itself, with the plans to choose from
    assert ("Pro", "monthly") in _upgrades(response.text)


@pytest.mark.parametrize("action", ["/settings/billing/checkout", "/settings/billing/portal"])
async def test_without_stripe_billing_is_unavailable_with_a_message_not_a_500(
    owner_page_b, no_stripe, action
):
    response = await _post(owner_page_b, action, {"plan": "pro", "interval": "monthly"})
    assert response.status_code == 503
    assert "Billing is not available right now." in response.text
    assert "Paid plans are not configured on this platform" in response.text
    assert "<h1>Billing</h1>" in response.text


async def test_checkout_success_waits_for_the_webhook_then_says_thank_you(owner_page_a, owner_page_b):
    waiting = await owner_page_b.get("/settings/billing?checkout=success")
    assert waiting.status_code == 200
    assert "Thank you — your subscription is being activated." in waiting.text
    assert "data-billing-pending" in waiting.text
    assert re.search(r'<script src="/assets/billing\.js\?v=[0-9a-f]+" defer></script>', waiting.text)
    assert "<script>" not in waiting.text
    assert "style=" not in waiting.text
    assert "data-billing-current>Free, no subscription<" in waiting.text

    done = await owner_page_a.get("/settings/billing?checkout=success")
    assert "Thank you — your subscription is active." in done.text
    assert "data-billing-pending" not in done.text

    script = await owner_page_a.get("/assets/billing.js")
    assert script.status_code == 200
    assert "data-billing-pending" in script.text


async def test_checkout_cancel_says_nothing_was_charged(owner_page_b):
    response = await owner_page_b.get("/settings/billing?checkout=cancel")
    assert response.status_code == 200
    assert "Checkout canceled, nothing was charged." in response.text
    assert "data-billing-pending" not in response.text
    other = await owner_page_b.get("/settings/billing?checkout=<b>x</b>")
    assert "Thank you" not in other.text
    assert "Checkout canceled" not in other.text


async def test_the_portal_button_redirects_to_the_portal_which_returns_to_the_billing_page(
    owner_page_a, monkeypatch, standin_base, settings, tenant_a
):
    _configure_stripe(monkeypatch, "sk_test_console_pages", standin_base)
    try:
        response = await _post(owner_page_a, "/settings/billing/portal")
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith(f"{standin_base}/_standin/portal/")
        async with httpx.AsyncClient(timeout=10) as browser:
            portal = await browser.get(location)
        assert portal.status_code == 200
        assert f'href="{settings.tenant_url(tenant_a.slug, "/settings/billing")}"' in portal.text
        csp = (await owner_page_a.get("/settings/billing")).headers["content-security-policy"]
        assert f"form-action 'self' {standin_base}" in csp  # the browser may follow the redirect
    finally:
        get_billing_settings.cache_clear()
        get_client.cache_clear()


async def test_a_billing_change_in_progress_is_explained_not_a_500(
    live_app, settings, sync_db, tenant_service, monkeypatch
):
    slug = f"busy-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example.org"
    tenant = tenant_service.create(slug=slug, name="Busy", owner_email=email, owner_password=PASSWORD)
    subscribed(sync_db, tenant, plan="pro", status="active")
    _configure_stripe(
        monkeypatch, "sk_test_console_pages", "http://127.0.0.1:9", BILLING_LOCK_TIMEOUT_SECONDS="0.2"
    )
    try:
        async with client_for(live_app, host_of(tenant)) as client:
            assert (await console_sign_in(client, email)).status_code == 303
            page = await client.get("/settings/billing")
            # Another checkout of the workspace holds its billing account meanwhile.
            with sync_db.sync_session() as other, other.begin():
                other.execute(
                    select(BillingAccount).where(BillingAccount.tenant_id == tenant.id).with_for_update()
                )
                response = await client.post(
                    "/settings/billing/portal", data={"csrf_token": csrf_of(page.text)}
                )
    finally:
        get_billing_settings.cache_clear()
        get_client.cache_clear()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "Another billing change is in progress." in response.text
    assert "<h1>Billing</h1>" in response.text


def _billing(status: str, **fields: Any) -> BillingRead:
    plan = get_catalog().plan("pro")
    values: dict[str, Any] = {
        "plan": plan_read(plan),
        "status": status,
        "interval": "monthly",
        "current_period_end": None,
        "cancel_at_period_end": False,
        "trial_end": None,
        "past_due_since": None,
        "seats_used": 1,
        "seats_allowed": 20,
        "storage_used_bytes": 0,
        "storage_allowed_bytes": 1,
    }
    return BillingRead(**{**values, **fields})


def test_the_home_banner_says_what_the_billing_state_means_when_it_matters():
    now = utcnow()
    grace = get_billing_settings().billing_past_due_grace_days
    cases = [
        (_billing("active"), None, "info"),
        (
            _billing("trialing", trial_end=now + timedelta(days=9, hours=1)),
            "Your trial ends in 10 days",
            "info",
        ),
        (_billing("trialing", trial_end=now + timedelta(hours=30)), "Your trial ends in 2 days", "warning"),
        (
            _billing(
                "trialing",
                trial_end=now + timedelta(days=5),
                cancel_at_period_end=True,
                current_period_end=now + timedelta(days=5),
            ),
            "and the subscription ends with it.",
            "warning",
        ),
        (_billing("past_due", past_due_since=now - timedelta(days=1)), "Payment is past due.", "warning"),
        (
            _billing("past_due", past_due_since=now - timedelta(days=grace + 1)),
            "this workspace is read-only until the invoice is paid.",
            "danger",
        ),
        (_billing("canceled"), "The subscription is canceled: only billing is available", "danger"),
        (_billing("unpaid"), "The subscription is unpaid", "danger"),
        (
            _billing("active", cancel_at_period_end=True, current_period_end=now + timedelta(days=20)),
            "The subscription ends on",
            "warning",
        ),
    ]
    for billing, text, level in cases:
        notice = notice_of(billing, now)
        if text is None:
            assert notice.message is None
        else:
            assert text in (notice.message or ""), (billing.status, notice.message)
            assert notice.level == level, (billing.status, notice)


async def test_the_home_page_shows_the_billing_state(app, sync_db, tenant_service):
    slug = f"trial-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example.org"
    tenant = tenant_service.create(slug=slug, name="Trial", owner_email=email, owner_password=PASSWORD)
    with sync_db.sync_session() as session, session.begin():
        session.merge(
            BillingAccount(
                tenant_id=tenant.id, plan_key="pro", status="trialing", trial_end=utcnow() + timedelta(days=3)
            )
        )
    async with client_for(app, host_of(tenant)) as client:
        await console_sign_in(client, email)
        home = await client.get("/")
    assert "Your trial ends in 3 days" in home.text
    assert '<a href="/settings/billing">Go to billing</a>' in home.text


def _tenant_in(tenant_service: Any, sync_db: Any, status: str, **account: Any) -> tuple[Any, str]:
    """A committed tenant whose billing account is in `status`, and its owner's email."""
    slug = f"{status.replace('_', '')}-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example.org"
    tenant = tenant_service.create(slug=slug, name=status, owner_email=email, owner_password=PASSWORD)
    with sync_db.sync_session() as session, session.begin():
        session.merge(BillingAccount(tenant_id=tenant.id, plan_key="pro", status=status, **account))
    return tenant, email


async def test_past_due_says_until_when_everything_keeps_working(app, sync_db, tenant_service, stripe_key):
    tenant, email = _tenant_in(
        tenant_service, sync_db, "past_due", interval="monthly", past_due_since=utcnow() - timedelta(days=1)
    )
    async with _browser(app, tenant, email) as client:
        html = (await client.get("/settings/billing")).text
    assert '<span class="status warning">Past due</span>' in html
    assert "Everything keeps working until" in html
    assert "the workspace becomes read-only" in html
    assert '<div class="banner warning" role="status"><p>Payment is past due.' in html
    assert 'Pro <span class="muted">· $29.00 per month</span>' in html  # the plan applies meanwhile
    assert "Manage billing" in html
    assert _upgrades(html) == set()


async def test_a_canceled_workspace_may_subscribe_again_and_sees_what_it_uses_too_much(
    app, sync_db, tenant_service, stripe_key
):
    tenant, email = _tenant_in(tenant_service, sync_db, "canceled", cancel_at_period_end=False)
    for n in range(3):
        with sync_db.sync_session(tenant.schema_name) as session, session.begin():
            session.add(
                UserFactory.build(email=f"m{n}@{tenant.slug}.example.org", role_id=builtin_role_id("member"))
            )
    async with _browser(app, tenant, email) as client:
        html = (await client.get("/settings/billing")).text
    assert '<p class="billing-plan-name">Free</p>' in html  # the subscription's plan no longer applies
    assert '<span class="status danger">Canceled</span>' in html
    assert "The subscription is canceled: only billing is available until it is renewed." in html
    assert "4 of 3 used" in html
    assert "More than the plan allows" in html
    assert ("Pro", "monthly") in _upgrades(html)
