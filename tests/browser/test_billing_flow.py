"""Billing in the console, in a real browser: the owner upgrades through the Stripe stand-in's checkout
page, comes back to the billing page that waits for the webhook, then changes the plan and cancels in
the portal and sees each change on the billing page.

Every change reaches the platform only as it does in production: Stripe (the stand-in, localstripe
behind it) sends signed webhooks, the worker processes them, and the page reads the billing account.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import delete, select

from billing.catalog import get_catalog
from billing.models import BillingPlan
from billing.plans_sync import sync_plans
from billing.settings import BillingSettings
from billing.stripe_client import is_missing, make_client
from tests.conftest import subscribed
from tests.support.browser import PASSWORD, STRIPE_KEY, ConsoleStack, owner_email
from tests.support.processes import wait_until

CHANGE_DEADLINE = 30.0


def _plans_synced(stack: ConsoleStack) -> None:
    """The catalogue's prices exist in the stack's Stripe (another Stripe server of the same test
    worker may have synced the plans to itself meanwhile: then sync them again)."""
    import stripe

    client = make_client(BillingSettings(stripe_api_key=STRIPE_KEY, stripe_api_base=stack.stripe_api_base))
    with stack.sync_db.sync_session() as session:
        price = session.execute(
            select(BillingPlan.stripe_price_monthly).where(BillingPlan.key == "pro")
        ).scalar()
    if price:
        try:
            client.v1.prices.retrieve(price)
            return
        except stripe.StripeError as exc:
            if not is_missing(exc):
                raise
    with stack.sync_db.sync_session() as session, session.begin():
        session.execute(delete(BillingPlan))
    with stack.sync_db.sync_session() as session, session.begin():
        sync_plans(session, client, get_catalog())


def _sign_in_to_billing(page: Page, stack: ConsoleStack, slug: str) -> None:
    page.goto(stack.url(slug, "/settings/billing"))
    page.get_by_label("Email").fill(owner_email(slug))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_visible()


def _plan_name(page: Page) -> str:
    return page.locator(".billing-plan-name").inner_text()


def _until_shown(page: Page, predicate: str, what: str) -> None:
    """Reload the billing page until `predicate` (a JS expression on the document) holds: a change made
    in the portal shows once its webhook has been processed."""

    def shown() -> bool:
        page.reload()
        return bool(page.evaluate(predicate))

    try:
        wait_until(shown, timeout=CHANGE_DEADLINE, interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"the billing page never showed {what}") from exc


def test_owner_upgrades_through_checkout_then_changes_and_cancels_in_the_portal(
    stack: ConsoleStack, page: Page
):
    _plans_synced(stack)
    tenant = stack.new_tenant(name="Acme Billing")
    billing_url = stack.url(tenant.slug, "/settings/billing")
    _sign_in_to_billing(page, stack, tenant.slug)
    expect(page).to_have_url(billing_url)
    assert _plan_name(page).startswith("Free")
    expect(page.get_by_text("No subscription", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Manage billing")).to_have_count(0)

    # Upgrade: the form's POST answers 303 to the stand-in's checkout page (CSP form-action allows it).
    page.get_by_role("button", name="Upgrade to Pro, monthly").click()
    expect(page.get_by_role("heading", name="Subscribe to Pro")).to_be_visible()
    assert page.url.startswith(f"{stack.stripe_api_base}/_standin/checkout/")
    page.get_by_role("button", name="Pay").click()

    # Back on the billing page: it waits for the webhook, then shows the new plan.
    expect(page).to_have_url(f"{billing_url}?checkout=success")
    expect(page.get_by_text("Thank you — your subscription is active.")).to_be_visible()
    expect(page.locator(".billing-plan-name")).to_contain_text("Pro · $29.00 per month")
    expect(page.get_by_text("Trial", exact=True)).to_be_visible()
    expect(page.get_by_text("(14 days left)")).to_be_visible()
    expect(page.get_by_role("button", name="Upgrade to Pro, monthly")).to_have_count(0)

    # The portal: switch to Business, come back, see it.
    page.get_by_role("button", name="Manage billing").click()
    expect(page.get_by_role("heading", name="Pro, $29.00 per month")).to_be_visible()
    page.get_by_role("button", name="Switch to Business, $15.00 per month").click()
    expect(page.get_by_role("status")).to_have_text("Your plan was changed.")
    page.get_by_role("link", name="Return to").click()
    expect(page).to_have_url(billing_url)
    _until_shown(
        page, "document.querySelector('.billing-plan-name').textContent.startsWith('Business')", "Business"
    )
    expect(page.locator(".billing-plan-name")).to_contain_text("Business · $15.00 per seat per month")

    # Cancel now: the workspace is back on the free plan, and may subscribe again.
    page.get_by_role("button", name="Manage billing").click()
    page.get_by_role("button", name="Cancel now").click()
    expect(page.get_by_text("No current subscription.")).to_be_visible()
    page.get_by_role("link", name="Return to").click()
    expect(page).to_have_url(billing_url)
    _until_shown(page, "document.body.textContent.includes('Canceled')", "the cancellation")
    assert _plan_name(page).startswith("Free")
    expect(page.get_by_text("The subscription is canceled: only billing is available")).to_be_visible()
    expect(page.get_by_role("button", name="Upgrade to Pro, monthly")).to_be_visible()


def test_canceling_checkout_comes_back_with_nothing_charged(stack: ConsoleStack, page: Page):
    _plans_synced(stack)
    tenant = stack.new_tenant(name="Acme Undecided")
    _sign_in_to_billing(page, stack, tenant.slug)
    page.get_by_role("button", name="Upgrade to Business, yearly").click()
    expect(page.get_by_role("heading", name="Subscribe to Business")).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(stack.url(tenant.slug, "/settings/billing?checkout=cancel"))
    expect(page.get_by_text("Checkout canceled, nothing was charged.")).to_be_visible()
    assert _plan_name(page).startswith("Free")


def test_the_return_page_updates_itself_when_the_webhook_arrives(stack: ConsoleStack, page: Page):
    tenant = stack.new_tenant(name="Acme Waiting")
    _sign_in_to_billing(page, stack, tenant.slug)
    page.goto(stack.url(tenant.slug, "/settings/billing?checkout=success"))
    expect(page.get_by_text("Thank you — your subscription is being activated.")).to_be_visible()
    expect(page.get_by_text("Free, no subscription")).to_be_visible()
    # What the worker does when Stripe's event arrives: the account shows the subscription.
    subscribed(stack.sync_db, tenant, plan="pro", status="active")
    expect(page.get_by_text("Thank you — your subscription is active.")).to_be_visible()
    expect(page).to_have_url(stack.url(tenant.slug, "/settings/billing?checkout=success"))
    assert _plan_name(page).startswith("Pro")
