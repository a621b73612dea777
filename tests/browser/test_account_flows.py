"""Account flows in a real browser, with the emails going through the worker, the relay and SMTP:
forgot and reset password, sign-up and email verification, a new owner's first password, and the
account page (change password, sign out everywhere)."""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser, Page, expect

from tests.browser.test_sign_in import sign_in
from tests.support.browser import PASSWORD, ConsoleStack, Watch, link_in, owner_email

NEW_PASSWORD = "a fresh passphrase for the browser"


def test_forgot_and_reset_password(stack: ConsoleStack, page: Page):
    tenant = stack.new_tenant(name="Reset Co")
    email = owner_email(tenant.slug)
    page.goto(stack.url(tenant.slug, "/sign-in"))
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    link = link_in(stack.mail_to(email, "Reset your password"), "/reset-password")
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill("short")
    page.get_by_role("button", name="Save new password").click()
    expect(page.locator("#e-password")).to_contain_text("10 to 128 characters")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save new password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed.")
    assert "token" not in page.url

    sign_in(page, stack, tenant.slug, email, PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("The email or password is incorrect.")
    sign_in(page, stack, tenant.slug, email, NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Reset Co")).to_be_visible()

    page.goto(link)  # the link worked once
    expect(page.get_by_role("heading", name="This link cannot be used")).to_be_visible()
    expect(page.get_by_role("button", name="Email me a new link")).to_be_visible()


def test_sign_up_and_verify_the_email(stack: ConsoleStack, browser: Browser, watch: Watch, page: Page):
    tenant = stack.new_tenant(name="Open Door")
    owner_profile = browser.new_context()  # the owner opens sign-up in a browser of their own
    watch.attach(owner_profile)
    owner = owner_profile.new_page()
    sign_in(owner, stack, tenant.slug, owner_email(tenant.slug))
    owner.goto(stack.url(tenant.slug, "/settings"))
    owner.get_by_label("Anyone may create an account").check()
    owner.get_by_role("button", name="Save settings").click()
    expect(owner.get_by_role("status")).to_contain_text("Settings saved.")
    owner_profile.close()

    email = f"joiner-{uuid.uuid4().hex[:6]}@example.com"
    page.goto(stack.url(tenant.slug, "/sign-in"))
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Your name").fill("Jo Iner")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    sign_in(page, stack, tenant.slug, email, NEW_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Verify your email address first")

    link = link_in(stack.mail_to(email, "Verify your email address"), "/verify-email")
    page.goto(link)
    expect(page.get_by_text(email)).to_be_visible()
    page.get_by_role("button", name="Verify my email").click()
    expect(page.get_by_role("heading", name="Your email address is verified")).to_be_visible()
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Open Door")).to_be_visible()
    expect(page.get_by_text(email).first).to_be_visible()


def test_a_new_owner_chooses_a_password(stack: ConsoleStack, page: Page):
    # `platformctl tenants create` without a password (the stack's tenant operations link to it).
    slug = f"t{uuid.uuid4().hex[:10]}"
    email = f"founder@{slug}.example.com"
    stack.tenant_ops.create(slug=slug, name="Fresh Start", owner_email=email)

    link = link_in(stack.mail_to(email, "workspace is ready"), "/set-password")
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    expect(page.get_by_text(email)).to_be_visible()
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save my password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is set.")
    sign_in(page, stack, slug, email, NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Fresh Start")).to_be_visible()
    expect(page.get_by_text("owner", exact=True)).to_be_visible()


def test_change_password_then_sign_out_everywhere(
    stack: ConsoleStack, browser: Browser, watch: Watch, page: Page
):
    tenant = stack.new_tenant(name="Two Laptops")
    email = f"member-{uuid.uuid4().hex[:6]}@example.com"
    stack.add_user(tenant, email)
    sign_in(page, stack, tenant.slug, email)
    page.get_by_role("link", name=email).click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#e-current_password")).to_contain_text("The current password is incorrect.")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed.")

    other_profile = browser.new_context()  # another computer
    watch.attach(other_profile)
    try:
        elsewhere = other_profile.new_page()
        sign_in(elsewhere, stack, tenant.slug, email, NEW_PASSWORD)
        expect(elsewhere.get_by_role("heading", name="Two Laptops")).to_be_visible()

        page.get_by_role("button", name="Sign out everywhere").click()
        expect(page.get_by_role("status")).to_contain_text("You are signed out everywhere")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

        elsewhere.goto(stack.url(tenant.slug, "/account"))
        expect(elsewhere.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(elsewhere.get_by_role("status")).to_contain_text("Your session has ended.")
    finally:
        other_profile.close()
