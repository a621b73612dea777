"""Members, invitations, roles and API keys in a real browser, with the invitation email going through
the worker, the relay and SMTP: the owner invites someone, who follows the emailed link in a browser of
their own, creates the account and lands signed in; the owner changes their role and removes them; a
custom role made in the permission editor; an API key whose secret is shown once, works against the
API, and is refused once revoked."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Browser, Dialog, Page, expect
from sqlalchemy import select

from platform_core.access.models import Role, User
from platform_core.access.permissions import builtin_role_id
from tests.browser.test_sign_in import sign_in
from tests.conftest import subscribed
from tests.support.browser import PASSWORD, ConsoleStack, Watch, link_in, owner_email

NEW_PASSWORD = "an invited person's passphrase"


def _accept(dialog: Dialog) -> None:
    dialog.accept()


def _api(stack: ConsoleStack, slug: str, secret: str) -> httpx.Client:
    """A client of the tenant's API with an API key, as a program uses it (`*.localhost` is a name only
    the browser resolves: the request goes to the stack's address with the tenant's Host)."""
    headers = {"Host": f"{slug}.localhost:{stack.api.port}", "Authorization": f"Bearer {secret}"}
    return httpx.Client(base_url=f"http://127.0.0.1:{stack.api.port}", headers=headers)


def _user(stack: ConsoleStack, tenant: object, email: str) -> User | None:
    with stack.sync_db.sync_session(tenant.schema_name) as session:  # type: ignore[attr-defined]
        user = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is not None:
            session.expunge(user)
        return user


def test_invite_accept_change_the_role_and_remove(
    stack: ConsoleStack, browser: Browser, watch: Watch, page: Page
):
    tenant = stack.new_tenant(name="Crew Co")
    sign_in(page, stack, tenant.slug, owner_email(tenant.slug))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    page.get_by_role("link", name="Invite someone").click()
    email = f"crew-{uuid.uuid4().hex[:6]}@example.com"
    page.get_by_label("Email").fill("not an address")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#e-email")).to_contain_text("valid email")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text(f"Invitation sent to {email} as viewer.")
    expect(page.locator(f'tr[data-invitation="{email}"]')).to_contain_text("pending")

    link = link_in(stack.mail_to(email, "invited you to join Crew Co"), "/accept-invitation")
    invitee_profile = browser.new_context()  # the invited person's own browser
    watch.attach(invitee_profile)
    try:
        invitee = invitee_profile.new_page()
        invitee.goto(link)
        expect(invitee.get_by_role("heading", name="Join Crew Co")).to_be_visible()
        expect(invitee.get_by_text(email)).to_be_visible()
        invitee.get_by_label("Your name").fill("Cree Member")
        invitee.get_by_label("Choose a password").fill("short")
        invitee.get_by_role("button", name="Create account and join").click()
        expect(invitee.locator("#e-password")).to_contain_text("10 to 128 characters")
        invitee.get_by_label("Choose a password").fill(NEW_PASSWORD)
        invitee.get_by_role("button", name="Create account and join").click()
        expect(invitee.get_by_role("status")).to_contain_text("Welcome to Crew Co!")
        expect(invitee.get_by_role("heading", name="Crew Co")).to_be_visible()
        expect(invitee.get_by_role("link", name=email)).to_be_visible()
        assert "token" not in invitee.url
        joined = _user(stack, tenant, email)
        assert joined is not None
        assert joined.role_id == builtin_role_id("viewer")
        assert joined.full_name == "Cree Member"

        invitee.goto(link)  # the link worked once
        expect(invitee.get_by_role("heading", name="This invitation cannot be used")).to_be_visible()

        page.goto(stack.url(tenant.slug, "/members"))
        row = page.locator(f'tr[data-member="{email}"]')
        row.get_by_label(f"Role of {email}").select_option("member")
        row.get_by_role("button", name="Change role").click()
        expect(page.get_by_role("status")).to_contain_text(f"{email} is now member.")
        changed = _user(stack, tenant, email)
        assert changed is not None
        assert changed.role_id == builtin_role_id("member")

        page.once("dialog", _accept)
        page.locator(f'tr[data-member="{email}"]').get_by_role("button", name="Remove").click()
        expect(page.get_by_role("status")).to_contain_text(f"{email} was removed.")
        expect(page.locator(f'tr[data-member="{email}"]')).to_have_count(0)
        assert _user(stack, tenant, email) is None

        invitee.goto(stack.url(tenant.slug, "/"))
        expect(invitee.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(invitee.get_by_role("status")).to_contain_text("Your session has ended.")
    finally:
        invitee_profile.close()


def test_an_invited_address_with_an_account_signs_in_and_keeps_its_role(
    stack: ConsoleStack, browser: Browser, watch: Watch, page: Page
):
    tenant = stack.new_tenant(name="Known Co")
    sign_in(page, stack, tenant.slug, owner_email(tenant.slug))
    email = f"known-{uuid.uuid4().hex[:6]}@example.com"
    page.goto(stack.url(tenant.slug, "/members/invite"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Role").select_option("admin")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text(f"Invitation sent to {email} as admin.")
    stack.add_user(tenant, email, role="viewer")  # the address signed up meanwhile

    link = link_in(stack.mail_to(email, "invited you"), "/accept-invitation")
    profile = browser.new_context()
    watch.attach(profile)
    try:
        invitee = profile.new_page()
        invitee.goto(link)
        expect(invitee.get_by_text("already has an account")).to_be_visible()
        invitee.get_by_label("Password").fill("not the password")
        invitee.get_by_role("button", name="Sign in and join").click()
        expect(invitee.get_by_role("alert")).to_contain_text("The email or password is incorrect.")
        invitee.get_by_label("Password").fill(PASSWORD)
        invitee.get_by_role("button", name="Sign in and join").click()
        expect(invitee.get_by_role("status")).to_contain_text("Your account keeps its role.")
        expect(invitee.get_by_role("link", name=email)).to_be_visible()
        # a viewer: no Roles or API keys in the navigation, and no buttons on the members page
        nav = invitee.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="Roles")).to_have_count(0)
        expect(nav.get_by_role("link", name="API keys")).to_have_count(0)
        nav.get_by_role("link", name="Members").click()
        expect(invitee.get_by_role("button", name="Remove")).to_have_count(0)
        expect(invitee.get_by_role("link", name="Invite someone")).to_have_count(0)
        invitee.goto(stack.url(tenant.slug, "/roles"))
        expect(invitee.get_by_role("heading", name="You cannot open this page")).to_be_visible()
    finally:
        profile.close()
    kept = _user(stack, tenant, email)
    assert kept is not None
    assert kept.role_id == builtin_role_id("viewer")


def test_create_a_custom_role_in_the_editor(stack: ConsoleStack, page: Page):
    tenant = stack.new_tenant(name="Role Co")
    sign_in(page, stack, tenant.slug, owner_email(tenant.slug))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Roles").click()
    expect(page.locator('tr[data-role="viewer"]')).to_contain_text("built-in")
    page.get_by_role("link", name="New role").click()
    expect(page.get_by_role("heading", name="New role")).to_be_visible()
    page.get_by_label("Name").fill("Support Desk")
    page.locator('input[value="items:read"]').check()
    page.get_by_role("button", name="Create role").click()
    expect(page.locator("#e-name")).to_contain_text("String should match pattern")
    expect(page.locator('input[value="items:read"]')).to_be_checked()  # what was ticked stays ticked
    page.get_by_label("Name").fill("support")
    page.get_by_label("Description").fill("Answers customers")
    page.locator('input[value="members:read"]').check()
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_role("status")).to_contain_text("The role support is created.")
    row = page.locator('tr[data-role="support"]')
    expect(row).to_contain_text("items:read")
    expect(row).to_contain_text("members:read")

    row.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit role support")).to_be_visible()
    page.locator('input[value="members:read"]').uncheck()
    page.get_by_role("button", name="Save role").click()
    expect(page.get_by_role("status")).to_contain_text("The role support is saved.")
    with stack.sync_db.sync_session(tenant.schema_name) as session:
        role = session.execute(select(Role).where(Role.name == "support")).scalar_one()
        assert (role.builtin, role.permissions, role.description) == (
            False,
            ["items:read"],
            "Answers customers",
        )

    page.goto(stack.url(tenant.slug, "/members/invite"))  # the new role can be given
    expect(page.get_by_label("Role").locator('option[value="support"]')).to_have_count(1)


def test_an_api_key_is_shown_once_works_and_is_refused_once_revoked(stack: ConsoleStack, page: Page):
    tenant = stack.new_tenant(name="Keys Co")
    subscribed(stack.sync_db, tenant, plan="pro", status="active")  # a plan with API keys
    sign_in(page, stack, tenant.slug, owner_email(tenant.slug))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
    page.get_by_label("Name").fill("nightly export")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#e-scopes")).to_contain_text("Choose at least one permission")
    page.locator('input[name="scopes"][value="items:read"]').check()
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="Copy your new key now")).to_be_visible()
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("pk_")
    assert secret not in page.url

    with _api(stack, tenant.slug, secret) as program:
        assert program.get("/api/v1/items").status_code == 200
        assert program.post("/api/v1/items", json={"title": "x"}).status_code == 403  # its scopes only

        page.goto(stack.url(tenant.slug, "/api-keys"))  # never shown again
        row = page.locator('tr[data-key="nightly export"]')
        expect(row).to_contain_text("active")
        assert secret not in page.content()

        page.once("dialog", _accept)
        row.get_by_role("button", name="Revoke").click()
        expect(page.get_by_role("status")).to_contain_text("The key nightly export is revoked")
        expect(page.locator('tr[data-key="nightly export"]')).to_contain_text("revoked")
        refused = program.get("/api/v1/items")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
