"""The webhooks pages over HTTP: adding an endpoint (its secret shown once, on the POST's own answer),
the list and the endpoint's page never showing it, editing, enabling and disabling, deleting, rotating
the secret, a test event, redelivery and replay from the delivery log, the permission's and the plan's
gates, bad input as field errors, and another tenant's ids."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from platform_core.kernel.events import CATALOG
from platform_core.kernel.outbox import OutboxMessage
from platform_core.webhooks import service as webhook_service
from platform_core.webhooks.models import WebhookDelivery, WebhookEndpoint
from platform_core.webhooks.settings import get_webhook_settings
from tests.conftest import client_for, host_of
from tests.factories import create_user
from tests.platform_core.auth.test_sign_in import audit_actions
from tests.platform_core.console.support import console_sign_in, csrf_of, nonce_of

URL = "http://127.0.0.1:9/hook"
SECRET = re.compile(r'<code id="webhook-secret" data-secret>([^<]+)</code>')


@pytest.fixture
async def browser_a(app: Any, tenant_a: Any) -> Any:
    """A cookie-keeping client on tenant alpha's host (the pro plan: webhooks included)."""
    async with client_for(app, host_of(tenant_a)) as client:
        yield client


@pytest.fixture
async def owner_browser(browser_a: Any, db: Any, tenant_a: Any) -> Any:
    """Tenant alpha's new owner, signed in to the console."""
    await signed_in_as(browser_a, db, tenant_a, "owner")
    return browser_a


async def signed_in_as(client: Any, db: Any, tenant: Any, role: str) -> Any:
    """A new user of `role`, signed in to the console with `client`."""
    user = await create_user(db, tenant, role=role, email=f"{role}-{uuid.uuid4().hex[:8]}@example.org")
    assert (await console_sign_in(client, user.email)).status_code == 303
    return user


async def add_endpoint(client: Any, **fields: Any) -> Any:
    """Send the new-endpoint form as a browser would."""
    html = (await client.get("/webhooks/new")).text
    data = {
        "csrf_token": csrf_of(html),
        "form_nonce": nonce_of(html),
        "url": URL,
        "description": "CRM sync",
        "events": ["item.created", "item.deleted"],
        **fields,
    }
    return await client.post("/webhooks/new", data=data)


async def post_on(client: Any, page: str, action: str, **fields: Any) -> Any:
    """Post a form of `page` (its CSRF token; its nonce when the page has one) to `action`."""
    html = (await client.get(page)).text
    data = {"csrf_token": csrf_of(html), **fields}
    return await client.post(action, data=data)


async def endpoints_of(db: Any, tenant: Any) -> list[WebhookEndpoint]:
    """The tenant's endpoints (deleted ones too)."""
    async with db.session(tenant.schema_name) as session:
        return list((await session.execute(select(WebhookEndpoint))).scalars())


async def deliveries_of(db: Any, tenant: Any) -> list[WebhookDelivery]:
    """The tenant's deliveries, oldest first."""
    async with db.session(tenant.schema_name) as session:
        stmt = select(WebhookDelivery).order_by(WebhookDelivery.event_seq)
        return list((await session.execute(stmt)).scalars())


async def created_endpoint(client: Any, db: Any, tenant: Any) -> tuple[WebhookEndpoint, str]:
    """An endpoint added through the form, and the secret its page showed."""
    response = await add_endpoint(client)
    assert response.status_code == 201, response.text
    [endpoint] = [e for e in await endpoints_of(db, tenant) if e.deleted_at is None]
    return endpoint, SECRET.search(response.text).group(1)


class TestAddingAnEndpoint:
    async def test_the_secret_is_shown_once_and_the_list_never_shows_it(
        self, owner_browser, db, tenant_a, private_targets
    ):
        form = await owner_browser.get("/webhooks/new")
        assert form.status_code == 200
        for name, event in CATALOG.items():  # every event of the catalogue, with what it means
            assert f'value="{name}"' in form.text
            assert event.description.replace("'", "&#39;") in form.text

        created = await add_endpoint(owner_browser)
        assert created.status_code == 201
        assert created.headers["cache-control"] == "no-store"
        secret = SECRET.search(created.text).group(1)
        assert secret.startswith("whsec_")
        assert "Copy the signing secret now" in created.text
        assert "webhook-signature" in created.text  # how to verify
        [endpoint] = await endpoints_of(db, tenant_a)
        assert (endpoint.url, endpoint.events, endpoint.description) == (
            URL,
            ["item.created", "item.deleted"],
            "CRM sync",
        )
        assert endpoint.secret == secret
        assert "webhook.endpoint_created" in await audit_actions(db, tenant_a)

        listing = await owner_browser.get("/webhooks")
        assert listing.status_code == 200
        assert URL in listing.text
        assert "item.deleted" in listing.text
        assert "enabled" in listing.text
        assert secret not in listing.text
        assert "whsec_" not in listing.text
        details = await owner_browser.get(f"/webhooks/{endpoint.id}")
        assert details.status_code == 200
        assert secret not in details.text
        assert "data-secret" not in details.text

    async def test_a_resubmitted_form_adds_nothing_and_shows_no_secret(
        self, owner_browser, db, tenant_a, private_targets
    ):
        html = (await owner_browser.get("/webhooks/new")).text
        data = {
            "csrf_token": csrf_of(html),
            "form_nonce": nonce_of(html),
            "url": URL,
            "events": ["item.created"],
        }
        assert (await owner_browser.post("/webhooks/new", data=data)).status_code == 201
        again = await owner_browser.post("/webhooks/new", data=data)
        assert again.status_code == 303
        assert again.headers["location"] == "/webhooks"
        page = await owner_browser.get("/webhooks")
        assert "already sent" in page.text
        assert "whsec_" not in page.text
        assert len(await endpoints_of(db, tenant_a)) == 1

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"events": []}, "events", "Choose at least one event"),
            ({"events": ["item.exploded"]}, "events", "Unknown event type"),
            ({"url": ""}, "url", "Enter the URL"),
            ({"url": "x" * 3000}, "url", "at most 2048 characters"),
        ],
    )
    async def test_bad_input_is_a_field_error(
        self, owner_browser, db, tenant_a, private_targets, fields, field, message
    ):
        response = await add_endpoint(owner_browser, **fields)
        assert response.status_code == 422
        assert f'id="e-{field}"' in response.text
        assert message in response.text
        assert "data-secret" not in response.text
        assert await endpoints_of(db, tenant_a) == []

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("https://127.0.0.1/hook", "loopback"),
            ("https://10.1.2.3/hook", "private"),
            ("http://example.com/hook", "https://"),
        ],
    )
    async def test_a_forbidden_target_is_the_url_fields_error(
        self, owner_browser, db, tenant_a, public_targets_only, url, reason
    ):
        response = await add_endpoint(owner_browser, url=url, description="kept")
        assert response.status_code == 422
        assert 'id="e-url"' in response.text
        assert "This URL cannot receive webhooks" in response.text
        assert reason in response.text
        assert 'value="kept"' in response.text  # the input is kept
        assert 'value="item.deleted" checked' in response.text
        assert await endpoints_of(db, tenant_a) == []

    async def test_every_invalid_field_is_said_at_once(
        self, owner_browser, db, tenant_a, public_targets_only
    ):
        response = await add_endpoint(owner_browser, url="ftp://example.com/hook", events=[])
        assert response.status_code == 422
        assert "Choose at least one event" in response.text
        assert "the URL must start with https://" in response.text
        assert await endpoints_of(db, tenant_a) == []

    async def test_the_endpoint_limit_is_the_forms_error(
        self, owner_browser, db, tenant_a, private_targets, monkeypatch
    ):
        monkeypatch.setattr(webhook_service, "MAX_ENDPOINTS", 1)
        assert (await add_endpoint(owner_browser)).status_code == 201
        response = await add_endpoint(owner_browser, url="http://127.0.0.1:9/second")
        assert response.status_code == 422
        assert 'class="form-error"' in response.text
        assert "at most 1 webhook endpoints" in response.text
        assert 'value="http://127.0.0.1:9/second"' in response.text
        assert len(await endpoints_of(db, tenant_a)) == 1

    async def test_a_refused_forms_nonce_is_given_back(
        self, owner_browser, db, tenant_a, public_targets_only
    ):
        html = (await owner_browser.get("/webhooks/new")).text
        data = {
            "csrf_token": csrf_of(html),
            "form_nonce": nonce_of(html),
            "url": "https://127.0.0.1/hook",
            "events": ["item.created"],
        }
        assert (await owner_browser.post("/webhooks/new", data=data)).status_code == 422
        # The same form sent again is checked again (not taken for a double submit of a success).
        assert (await owner_browser.post("/webhooks/new", data=data)).status_code == 422
        assert await endpoints_of(db, tenant_a) == []


class TestAnEndpointsPage:
    async def test_edit(self, owner_browser, db, tenant_a, private_targets):
        endpoint, _ = await created_endpoint(owner_browser, db, tenant_a)
        form = await owner_browser.get(f"/webhooks/{endpoint.id}/edit")
        assert form.status_code == 200
        assert 'value="item.created" checked' in form.text
        assert 'value="item.updated" checked' not in form.text
        saved = await post_on(
            owner_browser,
            f"/webhooks/{endpoint.id}/edit",
            f"/webhooks/{endpoint.id}/edit",
            url="http://127.0.0.1:9/other",
            description="Billing sync",
            events=["item.updated", "member.joined"],
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == f"/webhooks/{endpoint.id}"
        assert "The endpoint is saved." in (await owner_browser.get(f"/webhooks/{endpoint.id}")).text
        [changed] = await endpoints_of(db, tenant_a)
        assert (changed.url, changed.description, changed.events) == (
            "http://127.0.0.1:9/other",
            "Billing sync",
            ["item.updated", "member.joined"],
        )
        assert "webhook.endpoint_updated" in await audit_actions(db, tenant_a)

    async def test_editing_away_every_event_is_a_field_error(
        self, owner_browser, db, tenant_a, private_targets
    ):
        endpoint, _ = await created_endpoint(owner_browser, db, tenant_a)
        page = f"/webhooks/{endpoint.id}/edit"
        response = await post_on(owner_browser, page, page, url=URL, description="")
        assert response.status_code == 422
        assert "Choose at least one event" in response.text
        [same] = await endpoints_of(db, tenant_a)
        assert same.events == ["item.created", "item.deleted"]

    async def test_editing_to_a_forbidden_url_is_a_field_error(
        self, owner_browser, db, tenant_a, monkeypatch
    ):
        monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
        get_webhook_settings.cache_clear()
        try:
            endpoint, _ = await created_endpoint(owner_browser, db, tenant_a)
            monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
            get_webhook_settings.cache_clear()
            page = f"/webhooks/{endpoint.id}/edit"
            response = await post_on(
                owner_browser, page, page, url="https://169.254.169.254/latest", events=["item.created"]
            )
        finally:
            get_webhook_settings.cache_clear()
        assert response.status_code == 422
        assert 'id="e-url"' in response.text
        assert "link-local" in response.text
        [same] = await endpoints_of(db, tenant_a)
        assert same.url == URL

    async def test_disable_and_enable(self, owner_browser, db, tenant_a, private_targets):
        endpoint, _ = await created_endpoint(owner_browser, db, tenant_a)
        page = f"/webhooks/{endpoint.id}"
        assert (await post_on(owner_browser, page, f"{page}/disable")).status_code == 303
        [disabled] = await endpoints_of(db, tenant_a)
        assert disabled.enabled is False
        shown = (await owner_browser.get(page)).text
        assert "is disabled" in shown
        assert disabled.disabled_reason
        assert disabled.disabled_reason in shown
        assert f'action="{page}/enable"' in shown
        listing = (await owner_browser.get("/webhooks")).text
        assert "disabled" in listing
        assert disabled.disabled_reason in listing

        assert (await post_on(owner_browser, page, f"{page}/test")).status_code == 303
        assert "is waiting: it is sent once the endpoint is enabled" in (await owner_browser.get(page)).text
        assert (await post_on(owner_browser, page, f"{page}/enable")).status_code == 303
        [enabled] = await endpoints_of(db, tenant_a)
        assert (enabled.enabled, enabled.disabled_reason) == (True, None)
        assert f'action="{page}/disable"' in (await owner_browser.get(page)).text

    async def test_delete_asks_first(self, owner_browser, db, tenant_a, private_targets):
        endpoint, _ = await created_endpoint(owner_browser, db, tenant_a)
        page = f"/webhooks/{endpoint.id}"
        confirm = await owner_browser.get(f"{page}/delete")
        assert confirm.status_code == 200
        assert "Delete this endpoint?" in confirm.text
        assert [e.deleted_at for e in await endpoints_of(db, tenant_a)] == [None]
        deleted = await post_on(owner_browser, f"{page}/delete", f"{page}/delete")
        assert deleted.status_code == 303
        assert deleted.headers["location"] == "/webhooks"
        listing = (await owner_browser.get("/webhooks")).text
        assert "is deleted" in listing
        assert f'href="{page}"' not in listing
        assert (await owner_browser.get(page)).status_code == 404
        [gone] = await endpoints_of(db, tenant_a)
        assert gone.deleted_at is not None
        assert "webhook.endpoint_deleted" in await audit_actions(db, tenant_a)

    async def test_rotate_shows_the_new_secret_once(self, owner_browser, db, tenant_a, private_targets):
        endpoint, first = await created_endpoint(owner_browser, db, tenant_a)
        page = f"/webhooks/{endpoint.id}"
        html = (await owner_browser.get(page)).text
        data = {"csrf_token": csrf_of(html), "form_nonce": nonce_of(html)}
        rotated = await owner_browser.post(f"{page}/rotate-secret", data=data)
        assert rotated.status_code == 200
        assert rotated.headers["cache-control"] == "no-store"
        second = SECRET.search(rotated.text).group(1)
        assert second.startswith("whsec_")
        assert second != first
        assert "Copy the new signing secret now" in rotated.text
        assert "24 hours" in rotated.text
        [row] = await endpoints_of(db, tenant_a)
        assert (row.secret, row.previous_secret) == (second, first)
        assert row.previous_secret_until is not None
        assert "webhook.secret_rotated" in await audit_actions(db, tenant_a)

        again = await owner_browser.post(f"{page}/rotate-secret", data=data)  # a reload: nothing new
        assert again.status_code == 303
        assert "whsec_" not in again.headers["location"]
        [same] = await endpoints_of(db, tenant_a)
        assert same.secret == second
        shown = (await owner_browser.get(page)).text
        assert "already sent" in shown
        assert second not in shown
        assert "The previous secret also signs until" in shown

    async def test_a_test_event_redelivery_and_replay(self, owner_browser, db, tenant_a, private_targets):
        endpoint, _ = await created_endpoint(owner_browser, db, tenant_a)
        page = f"/webhooks/{endpoint.id}"
        sent = await post_on(owner_browser, page, f"{page}/test")
        assert sent.status_code == 303
        [delivery] = await deliveries_of(db, tenant_a)
        assert (delivery.event_type, delivery.status) == ("webhook.test", "pending")
        async with db.session() as session:
            stmt = select(OutboxMessage.kwargs).where(
                OutboxMessage.task_name == "webhooks.deliver", OutboxMessage.tenant_id == tenant_a.id
            )
            woken = (await session.execute(stmt)).scalars().all()
        assert {"endpoint_id": str(endpoint.id)} in [
            {k: v for k, v in kw.items() if k == "endpoint_id"} for kw in woken
        ]  # a worker is woken for it
        log = (await owner_browser.get(page)).text
        assert "A test event" in log
        assert delivery.event_id in log
        assert f'action="{page}/deliveries/{delivery.id}/redeliver"' in log

        # As if the worker had tried it for good: failed, with the receiver's answer.
        async with db.session(tenant_a.schema_name) as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id)
                .values(
                    status="failed",
                    attempts=8,
                    response_status=500,
                    response_body="upstream <exploded>",
                    duration_ms=42,
                    error="HTTP 500",
                    last_attempt_at=datetime.now(UTC),
                    next_attempt_at=None,
                )
            )
            await session.commit()
        log = (await owner_browser.get(page)).text
        assert "upstream &lt;exploded&gt;" in log  # the body, escaped
        assert "42 ms" in log
        assert "HTTP 500" in log
        assert delivery.event_id in (await owner_browser.get(f"{page}?status=failed")).text
        assert delivery.event_id not in (await owner_browser.get(f"{page}?status=succeeded")).text
        assert delivery.event_id not in (await owner_browser.get(f"{page}?event_type=item.created")).text
        assert delivery.event_id in (await owner_browser.get(f"{page}?event_type=webhook.test")).text

        again = await post_on(owner_browser, page, f"{page}/deliveries/{delivery.id}/redeliver")
        assert again.status_code == 303
        [redelivered] = await deliveries_of(db, tenant_a)
        assert redelivered.status == "pending"
        assert "webhook.redelivered" in await audit_actions(db, tenant_a)
        assert "is being sent again" in (await owner_browser.get(page)).text

        async with db.session(tenant_a.schema_name) as session:
            await session.execute(update(WebhookDelivery).values(status="failed"))
            await session.commit()
        since = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
        later = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
        # A time after the event replays nothing; the form's local time is UTC without the script.
        none = await post_on(owner_browser, page, f"{page}/replay", since=later.strftime("%Y-%m-%dT%H:%M"))
        assert none.status_code == 303
        assert "nothing to send again" in (await owner_browser.get(page)).text
        assert [d.status for d in await deliveries_of(db, tenant_a)] == ["failed"]
        # The script's UTC value wins over the local one.
        replayed = await post_on(
            owner_browser,
            page,
            f"{page}/replay",
            since=later.strftime("%Y-%m-%dT%H:%M"),
            since_utc=since.isoformat().replace("+00:00", "Z"),
        )
        assert replayed.status_code == 303
        assert "1 failed delivery since" in (await owner_browser.get(page)).text
        assert [d.status for d in await deliveries_of(db, tenant_a)] == ["pending"]
        assert "webhook.replayed" in await audit_actions(db, tenant_a)

    @pytest.mark.parametrize("since", ["", "yesterday", "2026-13-45T10:00"])
    async def test_a_replay_without_a_time_is_a_field_error(
        self, owner_browser, db, tenant_a, private_targets, since
    ):
        endpoint, _ = await created_endpoint(owner_browser, db, tenant_a)
        page = f"/webhooks/{endpoint.id}"
        response = await post_on(owner_browser, page, f"{page}/replay", since=since)
        assert response.status_code == 422
        assert 'id="e-since"' in response.text
        assert "Enter the date and time" in response.text

    async def test_the_delivery_log_pages(self, owner_browser, db, tenant_a, private_targets):
        endpoint, _ = await created_endpoint(owner_browser, db, tenant_a)
        page = f"/webhooks/{endpoint.id}"
        for _ in range(26):
            await post_on(owner_browser, page, f"{page}/test")
        first = (await owner_browser.get(f"{page}?event_type=webhook.test")).text
        assert "Page 1 of 2" in first
        assert "event_type=webhook.test&amp;page=2" in first
        second = (await owner_browser.get(f"{page}?event_type=webhook.test&page=2")).text
        assert "Page 2 of 2" in second
        assert second.count("data-delivery=") == 1


class TestGates:
    async def test_without_the_permission_the_pages_are_403_and_not_in_the_nav(
        self, app, browser_a, db, tenant_a, private_targets
    ):
        async with client_for(app, host_of(tenant_a)) as owner:
            await signed_in_as(owner, db, tenant_a, "owner")
            assert 'href="/webhooks"' in (await owner.get("/")).text
            endpoint, _ = await created_endpoint(owner, db, tenant_a)
        await signed_in_as(browser_a, db, tenant_a, "member")
        assert 'href="/webhooks"' not in (await browser_a.get("/")).text
        for path in ("/webhooks", "/webhooks/new", f"/webhooks/{endpoint.id}"):
            page = await browser_a.get(path)
            assert page.status_code == 403, path
            assert "webhooks:manage" in page.text
        token = csrf_of((await browser_a.get("/")).text)
        for action in (f"/webhooks/{endpoint.id}/test", f"/webhooks/{endpoint.id}/delete"):
            refused = await browser_a.post(action, data={"csrf_token": token})
            assert refused.status_code == 403
        refused = await browser_a.post(
            "/webhooks/new", data={"csrf_token": token, "url": URL, "events": "item.created"}
        )
        assert refused.status_code == 403
        [still] = await endpoints_of(db, tenant_a)
        assert still.deleted_at is None
        assert await deliveries_of(db, tenant_a) == []

    async def test_a_plan_without_webhooks_says_so(self, app, db, tenant_b, private_targets):
        async with client_for(app, host_of(tenant_b)) as browser:
            await signed_in_as(browser, db, tenant_b, "owner")
            assert 'href="/webhooks"' in (await browser.get("/")).text
            page = await browser.get("/webhooks")
            assert page.status_code == 403
            assert "does not include webhooks" in page.text
            assert '<a href="/settings/billing">See plans</a>' in page.text
            assert 'href="/webhooks/new"' not in page.text
            assert "does not include webhooks" in (await browser.get("/webhooks/new")).text
            token = csrf_of(page.text)
            refused = await browser.post(
                "/webhooks/new", data={"csrf_token": token, "url": URL, "events": "item.created"}
            )
            assert refused.status_code == 403
            assert "does not include webhooks" in refused.text
        assert await endpoints_of(db, tenant_b) == []

    async def test_another_tenants_endpoint_is_404(
        self, app, owner_browser, db, tenant_a, tenant_b, private_targets
    ):
        async with db.session(tenant_b.schema_name) as session:
            theirs = WebhookEndpoint(url=URL, events=["item.created"], description="", secret="whsec_x")
            session.add(theirs)
            await session.commit()
            theirs_id = theirs.id
        page = f"/webhooks/{theirs_id}"
        assert (await owner_browser.get(page)).status_code == 404
        assert (await owner_browser.get(f"{page}/edit")).status_code == 404
        token = csrf_of((await owner_browser.get("/webhooks")).text)
        for action in ("delete", "rotate-secret", "test", "disable"):
            response = await owner_browser.post(f"{page}/{action}", data={"csrf_token": token})
            assert response.status_code == 404, action
        [still] = await endpoints_of(db, tenant_b)
        assert (still.deleted_at, still.secret, still.enabled) == (None, "whsec_x", True)

    async def test_another_endpoints_delivery_is_404(self, owner_browser, db, tenant_a, private_targets):
        mine, _ = await created_endpoint(owner_browser, db, tenant_a)
        page = f"/webhooks/{mine.id}"
        await post_on(owner_browser, page, f"{page}/test")
        [delivery] = await deliveries_of(db, tenant_a)
        other = await add_endpoint(owner_browser, url="http://127.0.0.1:9/second")
        assert other.status_code == 201
        [second] = [e for e in await endpoints_of(db, tenant_a) if e.id != mine.id]
        response = await post_on(
            owner_browser, page, f"/webhooks/{second.id}/deliveries/{delivery.id}/redeliver"
        )
        assert response.status_code == 404
