"""Signing in to the tenant console in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.browser import PASSWORD, ConsoleStack, owner_email


def sign_in(page: Page, stack: ConsoleStack, slug: str, email: str, password: str = PASSWORD) -> None:
    """Open the tenant's host and sign in through the form."""
    page.goto(stack.url(slug, "/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_owner_signs_in_sees_home_and_signs_out(stack: ConsoleStack, page: Page):
    tenant = stack.new_tenant(name="Acme Rockets")
    page.goto(stack.url(tenant.slug, "/"))
    expect(page).to_have_url(stack.url(tenant.slug, "/sign-in?next=/"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, stack, tenant.slug, owner_email(tenant.slug), "wrong password here")
    expect(page.get_by_role("alert")).to_contain_text("The email or password is incorrect.")
    expect(page.get_by_label("Email")).to_have_value(owner_email(tenant.slug))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Acme Rockets")).to_be_visible()
    expect(page.get_by_text(owner_email(tenant.slug)).first).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    page.goto(stack.url(tenant.slug, "/"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
