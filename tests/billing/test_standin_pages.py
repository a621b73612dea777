"""The Stripe stand-in's checkout and portal pages in a real browser, as a person uses them in `make dev`.

The platform runs as real processes (tests/support/billing_stack.py): the tenant's checkout and portal
URLs come from its billing routes, the browser clicks the stand-in's buttons, and the tenant's billing
state changes only through the signed webhooks that follow. The success, cancel and return URLs are
the tenant's pages on the API's host; the test checks the browser arrives there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import Settings
from tests.support.billing_stack import Stack, billing_stack, billing_until, tenant_with_owner
from tests.support.chromium import chromium
from tests.support.tenants import TenantOps

API_KEY = "sk_test_pages"


@pytest.fixture(scope="module")
def stack(settings: Settings, sync_db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The platform with localstripe behind the stand-in, a relay and a billing worker."""
    with billing_stack(settings, sync_db, tmp_path_factory.mktemp("pages"), api_key=API_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, for the whole module."""
    with chromium() as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser page (its own context: no cookies from another test)."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


class Tenant:
    """A new tenant, with an API client signed in as its owner."""

    def __init__(
        self, stack: Stack, settings: Settings, sync_db: Database, tenant_service: TenantOps
    ) -> None:
        self.tenant, _, token = tenant_with_owner(settings, sync_db, tenant_service, "pages")
        self.api = httpx.Client(
            base_url=stack.api.url,
            headers={"Host": f"{self.tenant.slug}.localhost", "Authorization": f"Bearer {token}"},
            timeout=30,
        )
        self.billing_page = stack.tenant_url(self.tenant.slug, "/settings/billing")

    def checkout(self, plan: str = "pro") -> str:
        """The URL of a new Checkout Session for `plan`, monthly."""
        started = self.api.post("/api/v1/billing/checkout", json={"plan": plan, "interval": "monthly"})
        assert started.status_code == 200, started.text
        return str(started.json()["url"])

    def billing(self) -> dict[str, Any]:
        """GET /api/v1/billing."""
        return self.api.get("/api/v1/billing").json()


@pytest.fixture
def buyer(stack: Stack, settings: Settings, sync_db: Database, tenant_service: TenantOps) -> Iterator[Tenant]:
    """A tenant on the free plan, about to subscribe."""
    tenant = Tenant(stack, settings, sync_db, tenant_service)
    with tenant.api:
        yield tenant


def _arrives_at(page: Page, url: str, button: Locator) -> None:
    """Click, and see the browser go to `url` (a page of the tenant console, which sends a browser
    that is not signed in to the console on to its sign-in page)."""
    with page.expect_request(lambda request: request.url == url and request.is_navigation_request()):
        button.click()


def _subscribe(page: Page, buyer: Tenant) -> str:
    """Pay for Pro on the checkout page; return the session's URL once the platform shows the trial."""
    url = buyer.checkout()
    page.goto(url)
    _arrives_at(page, f"{buyer.billing_page}?checkout=success", page.get_by_role("button", name="Pay"))
    billing_until(buyer.api, lambda b: b["status"] == "trialing", "trialing")
    return url


def test_pay_on_the_checkout_page_redirects_back_and_the_webhook_subscribes_the_tenant(page, buyer, stack):
    url = buyer.checkout()
    assert url.startswith(f"{stack.api_base}/_standin/checkout/")
    response = page.goto(url)
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", name="Subscribe to Pro")).to_be_visible()
    expect(page.get_by_text("$29.00 per month", exact=True)).to_be_visible()
    expect(page.get_by_text("14 days free")).to_be_visible()
    page.get_by_label("Card number").fill("4000 0000 0000 0002")  # declined when attached
    page.get_by_role("button", name="Pay").click()
    expect(page.get_by_role("alert")).to_contain_text("declined")

    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    # Stripe's redirect: a 303 to success_url
    _arrives_at(page, f"{buyer.billing_page}?checkout=success", page.get_by_role("button", name="Pay"))
    billing = billing_until(buyer.api, lambda b: b["status"] == "trialing", "subscribed")
    assert (billing["plan"]["key"], billing["interval"]) == ("pro", "monthly")  # Pro starts with its trial

    spent = page.goto(url)
    assert spent is not None
    assert spent.status == 410
    expect(page.get_by_role("heading", name="Already paid")).to_be_visible()
    unknown = page.goto(url.rsplit("/", 1)[0] + "/cs_test_unknown")
    assert unknown is not None
    assert unknown.status == 404
    expect(page.get_by_role("heading", name="Unknown checkout session")).to_be_visible()


def test_cancel_on_the_checkout_page_goes_back_and_buys_nothing(page, buyer, stack):
    url = buyer.checkout()
    page.goto(url)
    _arrives_at(page, f"{buyer.billing_page}?checkout=cancel", page.get_by_role("button", name="Cancel"))
    session = stack.stripe.v1.checkout.sessions.retrieve(url.rsplit("/", 1)[1])
    assert (session.status, session.subscription) == ("open", None)  # as on Stripe: it can still be paid
    assert buyer.billing()["status"] == "none"
    assert httpx.get(f"{url}/pay").status_code != 303  # a GET pays nothing


def test_the_portal_changes_the_plan_and_cancels_and_returns(page, buyer, stack):
    _subscribe(page, buyer)
    portal = buyer.api.post("/api/v1/billing/portal")
    assert portal.status_code == 200, portal.text
    page.goto(portal.json()["url"])
    expect(page.get_by_role("heading", name="Pro, $29.00 per month")).to_be_visible()

    page.get_by_role("button", name="Switch to Business, $15.00 per month").click()
    expect(page.get_by_role("status")).to_have_text("Your plan was changed.")
    expect(page.get_by_role("heading", name="Business, $15.00 per month")).to_be_visible()
    changed = billing_until(buyer.api, lambda b: b["plan"]["key"] == "business", "on Business")
    assert (changed["status"], changed["interval"]) == ("trialing", "monthly")

    page.get_by_role("button", name="Cancel at period end").click()
    expect(page.get_by_text("Ends on")).to_be_visible()
    billing_until(buyer.api, lambda b: b["cancel_at_period_end"], "set to cancel at period end")
    page.get_by_role("button", name="Renew subscription").click()
    billing_until(buyer.api, lambda b: not b["cancel_at_period_end"], "renewing again")

    cancel_form = page.locator("form", has=page.get_by_role("button", name="Cancel now"))
    action = page.url.split("/_standin/")[0] + str(cancel_form.get_attribute("action"))
    assert httpx.get(action).status_code != 303  # a GET cancels nothing
    assert buyer.billing()["status"] == "trialing"
    page.get_by_role("button", name="Cancel now").click()
    expect(page.get_by_text("No current subscription.")).to_be_visible()
    gone = billing_until(buyer.api, lambda b: b["status"] == "canceled", "canceled")
    assert gone["plan"]["key"] == "free"

    _arrives_at(
        page,
        buyer.billing_page,
        page.get_by_role("link", name=f"Return to {buyer.billing_page.split('/')[2]}"),
    )
