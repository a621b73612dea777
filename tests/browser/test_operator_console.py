"""The operator console in a real browser: sign in on the operator host, find a tenant, suspend it with a
reason (its own host then shows the suspended page), and resume it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete, select

from platform_core.audit.models import AuditEvent
from platform_core.operators import service as operator_service
from platform_core.operators.models import Operator
from tests.support.browser import ConsoleStack
from tests.support.processes import wait_until

OPERATOR_PASSWORD = "operator console pass phrase"


@pytest.fixture
def operator(stack: ConsoleStack) -> Iterator[Operator]:
    """An operator committed for the stack's API process; deleted after the test."""
    email = f"ops-{uuid.uuid4().hex[:8]}@ops.example.org"
    with stack.sync_db.sync_session() as session, session.begin():
        created = operator_service.create_operator(
            session, email=email, password=OPERATOR_PASSWORD, full_name="Olga Operator"
        )
    yield created
    with stack.sync_db.sync_session() as session, session.begin():
        session.execute(delete(Operator).where(Operator.id == created.id))


def _shows_suspended(page: Page, url: str) -> bool:
    """Open the tenant's host; True once it answers with the suspended page (its host cache follows the
    change through NOTIFY, a moment after the commit)."""
    page.goto(url)
    return page.get_by_role("heading", name="This workspace is suspended").count() == 1


def test_operator_finds_suspends_and_resumes_a_tenant(stack: ConsoleStack, page: Page, operator: Operator):
    tenant = stack.new_tenant(name="Rocket Works")
    page.goto(stack.operator_url("/"))
    expect(page).to_have_url(stack.operator_url("/sign-in?next=/"))
    page.get_by_label("Email").fill(operator.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The email or password is incorrect.")
    page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    expect(page.get_by_text(operator.email)).to_be_visible()

    page.get_by_label("Search").fill(tenant.slug)
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(rf"/tenants\?q={tenant.slug}(&|$)"))
    page.get_by_role("link", name=tenant.slug).click()
    expect(page.get_by_role("heading", name="Rocket Works")).to_be_visible()

    # An empty reason is refused on the page, with the message next to the field.
    page.get_by_role("button", name="Suspend").click()
    expect(page.locator("#e-reason")).to_be_visible()
    page.get_by_label("Reason (shown to the tenant's users)").fill("Unpaid invoices since March")
    page.get_by_role("button", name="Suspend").click()
    expect(page.get_by_role("status")).to_contain_text(f"{tenant.slug} is suspended.")
    expect(page.locator("[data-tenant-status]")).to_have_text("suspended")

    tenant_page = page.context.new_page()
    wait_until(lambda: _shows_suspended(tenant_page, stack.url(tenant.slug, "/")), timeout=15, interval=0.3)
    expect(tenant_page.get_by_text("Unpaid invoices since March")).to_be_visible()

    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_contain_text(f"{tenant.slug} is active again.")
    expect(page.locator("[data-tenant-status]")).to_have_text("active")
    wait_until(
        lambda: not _shows_suspended(tenant_page, stack.url(tenant.slug, "/")), timeout=15, interval=0.3
    )
    expect(tenant_page.get_by_role("heading", name="Sign in")).to_be_visible()

    with stack.sync_db.sync_session(tenant.schema_name) as session:
        actions = session.execute(
            select(AuditEvent.action, AuditEvent.actor_id).order_by(AuditEvent.occurred_at)
        ).all()
    assert [a for a in actions if a[0].startswith("tenant.")] == [
        ("tenant.suspended", operator.id),
        ("tenant.resumed", operator.id),
    ]

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    page.goto(stack.operator_url("/tenants"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def _answers_gone(page: Page, url: str) -> bool:
    """Open the tenant's host; True once it answers 410 (its host cache follows the change by NOTIFY)."""
    response = page.goto(url)
    return response is not None and response.status == 410


def test_operator_deletes_then_restores_a_tenant_after_confirming(
    stack: ConsoleStack, page: Page, operator: Operator
):
    tenant = stack.new_tenant(name="Short Lived")
    page.goto(stack.operator_url(f"/tenants/{tenant.slug}"))
    page.get_by_label("Email").fill(operator.email)
    page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Short Lived")).to_be_visible()

    page.once("dialog", lambda dialog: dialog.dismiss())  # "Delete ...?" answered No: nothing happens
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("[data-tenant-status]")).to_have_text("active")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("is marked for deletion")
    expect(page.locator("[data-tenant-status]")).to_have_text("deleting")

    tenant_page = page.context.new_page()
    wait_until(lambda: _answers_gone(tenant_page, stack.url(tenant.slug, "/")), timeout=15, interval=0.3)
    expect(tenant_page.get_by_role("heading", name="This workspace has been deleted")).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status")).to_contain_text(f"{tenant.slug} is restored.")
    wait_until(lambda: not _answers_gone(tenant_page, stack.url(tenant.slug, "/")), timeout=15, interval=0.3)
    expect(tenant_page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert stack.tenant_ops.get(tenant.slug).status == "active"
