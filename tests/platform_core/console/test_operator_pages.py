"""The operator console over HTTP: sign-in and out, tenants and what operators do to them (each audited),
fleet migrations, waiting Stripe events and their replay; served on the operator host only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text, update

from billing.models import StripeEvent
from platform_core.access.models import User
from platform_core.audit.models import AuditEvent
from platform_core.operators.models import Operator, OperatorAction
from tenants.models import Tenant
from tests.conftest import client_for, host_of
from tests.platform_core.console.support import console_sign_in, csrf_of, post_form
from tests.platform_core.operators.conftest import OPERATOR_HOST, OPERATOR_PASSWORD, create_operator


def _slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def console_operator(db: Any) -> Operator:
    """An active operator (in the test's transaction)."""
    return await create_operator(db)


@pytest.fixture
async def browser(app: Any) -> Any:
    """A cookie-keeping client on the operator host, not signed in."""
    async with client_for(app, OPERATOR_HOST) as client:
        yield client


@pytest.fixture
async def signed_in(browser: Any, console_operator: Operator) -> Any:
    """`browser`, signed in to the operator console as `console_operator`."""
    response = await operator_sign_in(browser, console_operator.email)
    assert response.status_code == 303, response.text
    return browser


async def operator_sign_in(client: Any, email: str, password: str = OPERATOR_PASSWORD) -> Any:
    """Sign in through the operator console's form."""
    return await post_form(client, "/sign-in", "/sign-in", {"email": email, "password": password})


async def tenant_audit(db: Any, tenant: Any, action: str) -> list[AuditEvent]:
    """The tenant's audit entries of `action`."""
    async with db.session(tenant.schema_name) as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action)
        return list((await session.scalars(stmt)).all())


async def operator_log(db: Any, action: str) -> list[OperatorAction]:
    """The platform's log entries of `action`."""
    async with db.session(None) as session:
        stmt = select(OperatorAction).where(OperatorAction.action == action)
        return list((await session.scalars(stmt)).all())


async def registry(db: Any, slug: str) -> Tenant:
    """The tenant's registry row as the test's transaction sees it."""
    async with db.session(None) as session:
        return (await session.scalars(select(Tenant).where(Tenant.slug == slug))).one()


class TestSignIn:
    async def test_a_visitor_is_sent_to_sign_in_and_back(self, browser, console_operator):
        response = await browser.get("/tenants?q=al")
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=/tenants%3Fq%3Dal"
        form = await browser.get(response.headers["location"])
        assert form.status_code == 200
        assert "Operator console" in form.text
        signed = await post_form(
            browser,
            "/sign-in",
            "/sign-in",
            {"email": console_operator.email, "password": OPERATOR_PASSWORD, "next": "/tenants?q=al"},
        )
        assert signed.status_code == 303
        assert signed.headers["location"] == "/tenants?q=al"
        cookie = signed.headers["set-cookie"]
        assert "session=" in cookie
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        assert "Domain" not in cookie
        page = await browser.get("/tenants")
        assert page.status_code == 200
        assert console_operator.email in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "unsafe-inline" not in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"

    @pytest.mark.parametrize("which", ["wrong password", "unknown email"])
    async def test_wrong_credentials_show_the_form_again(self, browser, console_operator, which):
        email = console_operator.email if which == "wrong password" else "nobody@ops.example.org"
        response = await operator_sign_in(browser, email, "not the password at all")
        assert response.status_code == 401
        assert "The email or password is incorrect." in response.text
        assert f'value="{email}"' in response.text
        assert "session=" not in response.headers.get("set-cookie", "")
        assert (await browser.get("/tenants")).status_code == 303

    async def test_an_inactive_operator_cannot_sign_in(self, browser, db):
        inactive = await create_operator(db, is_active=False)
        assert (await operator_sign_in(browser, inactive.email)).status_code == 401

    async def test_invalid_form_is_422(self, browser):
        response = await post_form(
            browser, "/sign-in", "/sign-in", {"email": "not an email", "password": "x"}
        )
        assert response.status_code == 422
        assert 'aria-invalid="true"' in response.text

    async def test_sign_in_is_throttled_with_the_apis_counters(self, browser, console_operator):
        for _ in range(5):
            assert (
                await operator_sign_in(browser, console_operator.email, "wrong password!")
            ).status_code == 401
        throttled = await operator_sign_in(browser, console_operator.email)
        assert throttled.status_code == 429
        assert "Too many attempts" in throttled.text
        assert int(throttled.headers["Retry-After"]) >= 1
        api = await browser.post(
            "/api/v1/operator/auth/token",
            json={"email": console_operator.email, "password": OPERATOR_PASSWORD},
        )
        assert api.status_code == 429  # the same counters as the operator API's sign-in

    async def test_a_post_without_the_csrf_token_is_refused(self, browser, console_operator):
        await browser.get("/sign-in")
        response = await browser.post(
            "/sign-in", data={"email": console_operator.email, "password": OPERATOR_PASSWORD}
        )
        assert response.status_code == 403
        assert "did not come from this site" in response.text

    async def test_sign_out_ends_every_console_session_of_the_operator(
        self, app, signed_in, console_operator, db
    ):
        async with client_for(app, OPERATOR_HOST) as other:
            assert (await operator_sign_in(other, console_operator.email)).status_code == 303
            assert (await other.get("/tenants")).status_code == 200
            stolen = signed_in.cookies.get("session")
            html = (await signed_in.get("/tenants")).text
            out = await signed_in.post("/sign-out", data={"csrf_token": csrf_of(html)})
            assert out.status_code == 303
            assert out.headers["location"] == "/sign-in"
            assert (await signed_in.get("/tenants")).status_code == 303
            ended = await other.get("/tenants")  # the other browser's session ended too
            assert ended.status_code == 303
            assert ended.headers["location"].startswith("/sign-in")
        async with client_for(app, OPERATOR_HOST) as replay:
            replay.cookies.set("session", stolen)
            assert (await replay.get("/tenants")).status_code == 303
        async with db.session(None) as session:
            assert (await session.get(Operator, console_operator.id)).session_generation == 1

    async def test_a_deactivated_operator_is_signed_out(self, signed_in, console_operator, db):
        async with db.session(None) as session:
            await session.execute(
                update(Operator).where(Operator.id == console_operator.id).values(is_active=False)
            )
            await session.commit()
        assert (await signed_in.get("/tenants")).status_code == 303


class TestHosts:
    @pytest.mark.parametrize("path", ["/tenants", "/fleet", "/stripe-events", "/tenants/alpha"])
    async def test_a_tenant_host_does_not_serve_operator_pages(self, app, tenant_a, path):
        async with client_for(app, host_of(tenant_a)) as client:
            response = await client.get(path)
        assert response.status_code == 404
        assert "Operator console" not in response.text

    async def test_the_operator_host_does_not_serve_tenant_pages(self, signed_in):
        for path in ("/account", "/settings", "/settings/billing"):
            response = await signed_in.get(path)
            assert response.status_code == 404
            assert "Operator console" in response.text

    async def test_a_tenant_console_session_is_no_operator_session(self, app, db, tenant_a):
        from tests.factories import create_user

        user = await create_user(db, tenant_a, role="owner")
        async with client_for(app, host_of(tenant_a)) as tenant_browser:
            assert (await console_sign_in(tenant_browser, user.email)).status_code == 303
            token = tenant_browser.cookies.get("session")
        async with client_for(app, OPERATOR_HOST) as client:
            client.cookies.set("session", token)
            assert (await client.get("/tenants")).status_code == 303

    async def test_an_operator_console_session_is_nothing_on_a_tenant_host(self, app, signed_in, tenant_a):
        token = signed_in.cookies.get("session")
        async with client_for(app, host_of(tenant_a)) as client:
            client.cookies.set("session", token)
            response = await client.get("/account")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in")

    async def test_unknown_paths_are_the_operator_404_page(self, signed_in):
        response = await signed_in.get("/no/such/page")
        assert response.status_code == 404
        assert "Operator console" in response.text
        assert (
            (await signed_in.get("/api/v1/nothing-here"))
            .headers["content-type"]
            .startswith("application/json")
        )


class TestTenants:
    async def test_search_status_filter_and_pages(self, signed_in, tenant_service):
        marker = uuid.uuid4().hex[:6]
        slugs = [f"srch{marker}-{i}" for i in range(3)]
        for slug in slugs:
            tenant_service.create(slug=slug, name=f"Searchable {marker}")
        tenant_service.suspend(slugs[2], reason="filtered")
        found = await signed_in.get("/tenants", params={"q": marker})
        assert all(f"/tenants/{s}" in found.text for s in slugs)
        assert "/tenants/alpha" not in found.text
        suspended = await signed_in.get("/tenants", params={"q": marker, "status": "suspended"})
        assert f"/tenants/{slugs[2]}" in suspended.text
        assert f"/tenants/{slugs[0]}" not in suspended.text
        nothing = await signed_in.get("/tenants", params={"q": "%_no-such-tenant_%"})
        assert "No tenant matches" in nothing.text
        odd = await signed_in.get("/tenants", params={"status": "bogus", "p": "x"})
        assert odd.status_code == 200

    async def test_paging(self, signed_in, tenant_service):
        marker = uuid.uuid4().hex[:6]
        for i in range(21):
            tenant_service.create(slug=f"pg{marker}-{i:02d}", name="Paged")
        first = await signed_in.get("/tenants", params={"q": f"pg{marker}"})
        assert "Page 1 of 2" in first.text
        assert f"/tenants/pg{marker}-19" in first.text
        assert f"/tenants/pg{marker}-20" not in first.text
        second = await signed_in.get("/tenants", params={"q": f"pg{marker}", "p": 2})
        assert f"/tenants/pg{marker}-20" in second.text

    async def test_a_tenants_page(self, signed_in, db, tenant_a, tenant_service):
        from tests.factories import create_user

        owner = await create_user(db, tenant_a, role="owner", email="page-owner@alpha.example.org")
        tenant_service.add_domain("alpha", f"app-{uuid.uuid4().hex[:6]}.alpha-corp.example")
        page = await signed_in.get("/tenants/alpha")
        assert page.status_code == 200
        assert "Alpha" in page.text
        assert owner.email in page.text
        assert "Pro" in page.text  # alpha's plan
        async with db.session(None) as session:
            session.add(
                StripeEvent(
                    id="evt_tenant_page",
                    type="invoice.payment_failed",
                    created=datetime.now(UTC),
                    payload={},
                    status="parked",
                    attempts=8,
                    tenant_id=tenant_a.id,
                )
            )
            await session.commit()
        with_event = await signed_in.get("/tenants/alpha")
        assert "evt_tenant_page" in with_event.text
        assert 'href="/stripe-events"' in with_event.text
        assert "alpha-corp.example" in page.text
        assert tenant_a.schema_name in page.text

    @pytest.mark.parametrize("slug", ["no-such-tenant", "NOPE", "a" * 80, "bad%20slug"])
    @pytest.mark.parametrize("suffix", ["", "/suspend"])
    async def test_unknown_slug_is_the_404_page(self, signed_in, slug, suffix):
        if suffix:
            html = (await signed_in.get("/tenants")).text
            response = await signed_in.post(
                f"/tenants/{slug}{suffix}", data={"csrf_token": csrf_of(html), "reason": "x"}
            )
        else:
            response = await signed_in.get(f"/tenants/{slug}")
        assert response.status_code == 404
        assert "Operator console" in response.text


class TestActions:
    async def test_suspend_with_a_reason_and_resume_are_audited(
        self, signed_in, db, tenant_service, console_operator
    ):
        slug = _slug("act")
        tenant = tenant_service.create(slug=slug, name="Acted on")
        done = await post_form(signed_in, f"/tenants/{slug}", f"/tenants/{slug}/suspend", {"reason": "abuse"})
        assert done.status_code == 303
        assert done.headers["location"] == f"/tenants/{slug}"
        page = await signed_in.get(f"/tenants/{slug}")
        assert f"{slug} is suspended." in page.text
        assert (await registry(db, slug)).suspended_reason == "abuse"
        [event] = await tenant_audit(db, tenant, "tenant.suspended")
        assert (event.actor_type, event.actor_id, event.details) == (
            "operator",
            console_operator.id,
            {"reason": "abuse"},
        )
        resumed = await post_form(signed_in, f"/tenants/{slug}", f"/tenants/{slug}/resume", {})
        assert resumed.status_code == 303
        assert (await registry(db, slug)).status == "active"
        [event] = await tenant_audit(db, tenant, "tenant.resumed")
        assert event.actor_id == console_operator.id
        logged = {(a.action, a.target_id) for a in await operator_log(db, "tenant.suspended")}
        assert ("tenant.suspended", slug) in logged

    @pytest.mark.parametrize(("reason", "message"), [("", "at least 1"), ("x" * 501, "at most 500")])
    async def test_a_bad_reason_is_422_with_the_message(self, signed_in, db, tenant_service, reason, message):
        slug = _slug("bad")
        tenant_service.create(slug=slug, name="Bad input")
        response = await post_form(
            signed_in, f"/tenants/{slug}", f"/tenants/{slug}/suspend", {"reason": reason}
        )
        assert response.status_code == 422
        assert message in response.text
        assert 'id="e-reason"' in response.text
        assert (await registry(db, slug)).status == "active"

    async def test_delete_and_restore_are_audited(self, signed_in, db, tenant_service, console_operator):
        slug = _slug("dr")
        tenant = tenant_service.create(slug=slug, name="Deleted and restored")
        deleted = await post_form(signed_in, f"/tenants/{slug}", f"/tenants/{slug}/delete", {})
        assert deleted.status_code == 303
        row = await registry(db, slug)
        assert row.status == "deleting"
        assert row.purge_after is not None
        page = await signed_in.get(f"/tenants/{slug}")
        assert "is marked for deletion" in page.text
        assert f'action="/tenants/{slug}/restore"' in page.text
        [event] = await tenant_audit(db, tenant, "tenant.deleted")
        assert event.actor_id == console_operator.id
        restored = await post_form(signed_in, f"/tenants/{slug}", f"/tenants/{slug}/restore", {})
        assert restored.status_code == 303
        assert (await registry(db, slug)).status == "active"
        [event] = await tenant_audit(db, tenant, "tenant.restored")
        assert event.actor_id == console_operator.id

    async def test_a_refused_change_is_the_409_page(self, signed_in, tenant_service):
        slug = _slug("rf")
        tenant_service.create(slug=slug, name="Refused")
        response = await post_form(signed_in, f"/tenants/{slug}", f"/tenants/{slug}/restore", {})
        assert response.status_code == 409
        assert "Only a tenant marked for deletion can be restored" in response.text

    async def test_add_an_owner_is_audited(self, signed_in, db, tenant_service, console_operator):
        slug = _slug("own")
        tenant = tenant_service.create(slug=slug, name="Owned")
        email = f"new-owner-{uuid.uuid4().hex[:6]}@example.org"
        added = await post_form(signed_in, f"/tenants/{slug}", f"/tenants/{slug}/owners", {"email": email})
        assert added.status_code == 303
        page = await signed_in.get(f"/tenants/{slug}")
        assert f"{email} was emailed a link to choose a password." in page.text
        async with db.session(tenant.schema_name) as session:
            user = (await session.scalars(select(User).where(User.email == email))).one()
        [event] = await tenant_audit(db, tenant, "tenant.owner_added")
        assert (event.actor_id, event.target_id) == (console_operator.id, str(user.id))

    async def test_a_bad_owner_email_is_422(self, signed_in, tenant_service):
        slug = _slug("boe")
        tenant_service.create(slug=slug, name="Bad owner")
        response = await post_form(
            signed_in, f"/tenants/{slug}", f"/tenants/{slug}/owners", {"email": "not-an-address"}
        )
        assert response.status_code == 422
        assert 'id="e-email"' in response.text
        assert 'value="not-an-address"' in response.text

    async def test_actions_need_the_csrf_token(self, signed_in, db, tenant_service):
        slug = _slug("csrf")
        tenant_service.create(slug=slug, name="Guarded")
        response = await signed_in.post(f"/tenants/{slug}/suspend", data={"reason": "no token"})
        assert response.status_code == 403
        assert (await registry(db, slug)).status == "active"

    async def test_actions_need_a_signed_in_operator(self, browser, tenant_service, db):
        slug = _slug("anon")
        tenant_service.create(slug=slug, name="Anonymous")
        html = (await browser.get("/sign-in")).text
        response = await browser.post(
            f"/tenants/{slug}/suspend", data={"csrf_token": csrf_of(html), "reason": "x"}
        )
        assert response.status_code in (303, 403)
        assert (await registry(db, slug)).status == "active"


class TestPlatformPages:
    async def test_fleet_lists_tenants_behind_with_their_error(self, signed_in, db, tenant_service):
        slug = _slug("flt")
        tenant = tenant_service.create(slug=slug, name="Behind")
        async with db.session(None) as session:
            await session.execute(
                text(f'UPDATE "{tenant.schema_name}".alembic_version SET version_num = :v'), {"v": "0000old"}
            )
            await session.execute(
                update(Tenant).where(Tenant.id == tenant.id).values(migration_error="column already exists")
            )
            await session.commit()
        page = await signed_in.get("/fleet")
        assert page.status_code == 200
        assert f"/tenants/{slug}" in page.text
        assert "0000old" in page.text
        assert "column already exists" in page.text

    async def test_stripe_events_and_replay(self, signed_in, db, console_operator, tenant_a):
        async with db.session(None) as session:
            for event_id, status in (("evt_console_parked", "parked"), ("evt_console_failed", "failed")):
                session.add(
                    StripeEvent(
                        id=event_id,
                        type="invoice.paid",
                        created=datetime.now(UTC),
                        payload={},
                        status=status,
                        attempts=8,
                        last_error="EventNotReady: customer unknown",
                        tenant_id=tenant_a.id if status == "parked" else None,
                    )
                )
            await session.commit()
        page = await signed_in.get("/stripe-events")
        assert "evt_console_parked" in page.text
        assert "evt_console_failed" in page.text
        assert 'href="/tenants/alpha"' in page.text
        one = await post_form(
            signed_in,
            "/stripe-events",
            "/stripe-events/replay",
            {"event_ids": "evt_console_failed", "include_failed": "true"},
        )
        assert one.status_code == 303
        notice = await signed_in.get("/stripe-events")
        assert "Queued 1 event(s) for processing again." in notice.text
        async with db.session(None) as session:
            assert (await session.get(StripeEvent, "evt_console_failed")).status == "pending"
            assert (await session.get(StripeEvent, "evt_console_parked")).status == "parked"
        every = await post_form(signed_in, "/stripe-events", "/stripe-events/replay", {})
        assert every.status_code == 303
        async with db.session(None) as session:
            assert (await session.get(StripeEvent, "evt_console_parked")).status == "pending"
        logged = await operator_log(db, "billing.events_replayed")
        replays = [entry.details["event_ids"] for entry in logged if entry.operator_id == console_operator.id]
        # "Replay every parked event" also takes what other tests parked in this database.
        assert len(replays) == 2
        assert ["evt_console_failed"] in replays
        assert any("evt_console_parked" in ids for ids in replays)

    async def test_a_bad_replay_is_422(self, signed_in):
        response = await post_form(
            signed_in, "/stripe-events", "/stripe-events/replay", {"event_ids": "bad id!"}
        )
        assert response.status_code == 422

    async def test_activity_lists_operator_actions(self, signed_in, tenant_service, console_operator):
        slug = _slug("log")
        tenant_service.create(slug=slug, name="Logged")
        await post_form(signed_in, f"/tenants/{slug}", f"/tenants/{slug}/suspend", {"reason": "logged"})
        page = await signed_in.get("/activity")
        assert f'href="/tenants/{slug}"' in page.text
        assert console_operator.email in page.text


class TestExports:
    async def test_ask_for_an_export_and_download_it(
        self, signed_in, db, s3, tenant_service, console_operator
    ):
        from platform_core.operators.models import TenantExport

        slug = _slug("exp")
        tenant = tenant_service.create(slug=slug, name="Exported")
        asked = await post_form(
            signed_in, f"/tenants/{slug}", f"/tenants/{slug}/exports", {"with_files": "true"}
        )
        assert asked.status_code == 303
        page = await signed_in.get(f"/tenants/{slug}")
        assert "The export is being prepared" in page.text
        assert "queued" in page.text
        async with db.session(None) as session:
            export = (
                await session.scalars(select(TenantExport).where(TenantExport.tenant_id == tenant.id))
            ).one()
            assert (export.with_files, export.requested_by) == (True, console_operator.email)
        [event] = await tenant_audit(db, tenant, "tenant.export_requested")
        assert event.actor_id == console_operator.id
        not_ready = await signed_in.get(f"/tenants/{slug}/exports/{export.id}/download")
        assert not_ready.status_code == 404
        # What the worker does once the archive is written:
        s3.put(f"exports/{tenant.id}/{export.id}.tar.gz", b"archive", content_type="application/gzip")
        async with db.session(None) as session:
            await session.execute(
                update(TenantExport)
                .where(TenantExport.id == export.id)
                .values(
                    status="succeeded", object_key=f"exports/{tenant.id}/{export.id}.tar.gz", size_bytes=7
                )
            )
            await session.commit()
        page = await signed_in.get(f"/tenants/{slug}")
        assert f'href="/tenants/{slug}/exports/{export.id}/download"' in page.text
        download = await signed_in.get(f"/tenants/{slug}/exports/{export.id}/download")
        assert download.status_code == 303
        assert f"exports/{tenant.id}/{export.id}.tar.gz" in download.headers["location"]
        other = await signed_in.get(f"/tenants/alpha/exports/{export.id}/download")
        assert other.status_code == 404
        malformed = await signed_in.get(f"/tenants/{slug}/exports/not-a-uuid/download")
        assert malformed.status_code == 404


def _operator_id_routes() -> list[tuple[str, str]]:
    """(method, path) of every operator console route with a parameter in its path."""
    import re

    from platform_core.console.routers import OPERATOR_ROUTERS

    found = set()
    for router in OPERATOR_ROUTERS:
        for route in router.routes:
            if re.search(r"\{[^}]+\}", route.path):
                found |= {(method, route.path) for method in route.methods if method != "HEAD"}
    return sorted(found)


def _id_cases() -> list[tuple[str, str, str]]:
    """Each route with each kind of id that names nothing (an unknown export only where there is one)."""
    kinds = ["unknown", "malformed", "known tenant, unknown export"]
    return [
        (method, path, kind)
        for method, path in _operator_id_routes()
        for kind in kinds
        if kind != "known tenant, unknown export" or "{export_id}" in path
    ]


@pytest.mark.parametrize(("method", "path", "value"), _id_cases(), ids=str)
async def test_every_page_with_an_id_answers_what_names_nothing_with_the_404_page(
    signed_in, method, path, value
):
    slug = {"unknown": "no-such-tenant", "malformed": "Not A Slug", "known tenant, unknown export": "alpha"}[
        value
    ]
    export_id = "not-an-id" if value == "malformed" else str(uuid.uuid4())
    url = path.replace("{slug}", slug).replace("{export_id}", export_id)
    if method == "GET":
        response = await signed_in.get(url)
    else:
        token = csrf_of((await signed_in.get("/tenants")).text)
        response = await signed_in.post(
            url, data={"csrf_token": token, "reason": "x", "email": "a@example.org"}
        )
    assert response.status_code == 404, (url, response.status_code, response.text[:300])
    assert "Operator console" in response.text


async def test_a_purged_tenant_is_listed_without_a_link(signed_in, tenant_service):
    slug = _slug("prg")
    tenant_service.create(slug=slug, name="Purged")
    tenant_service.mark_deleted(slug)
    tenant_service.purge(slug, force=True)
    page = await signed_in.get("/tenants", params={"q": slug, "status": "deleted"})
    assert f"{slug} <span" in page.text
    assert f'href="/tenants/{slug}"' not in page.text
    assert (await signed_in.get(f"/tenants/{slug}")).status_code == 404


async def test_a_session_past_half_its_life_is_renewed(app, settings, browser, console_operator):
    from platform_core.console.operator.pages import OPERATOR_CONSOLE_AUDIENCE, session_id_for
    from platform_core.kernel.security.tokens import SigningKeys, issue_access_token

    keys = SigningKeys.parse(settings.signing_keys_spec)
    old = issue_access_token(
        keys,
        subject=str(console_operator.id),
        audience=OPERATOR_CONSOLE_AUDIENCE,
        ttl_seconds=60,
        sid=session_id_for(0),
        sat=int(datetime.now(UTC).timestamp()),
    )
    browser.cookies.set("session", old)
    page = await browser.get("/tenants")
    assert page.status_code == 200
    renewed = page.headers["set-cookie"]
    assert renewed.startswith("session=")
    assert old not in renewed
    assert f"Max-Age={settings.console_session_hours * 3600}" in renewed
    wrong_generation = issue_access_token(
        keys,
        subject=str(console_operator.id),
        audience=OPERATOR_CONSOLE_AUDIENCE,
        ttl_seconds=3600,
        sid=session_id_for(7),
        sat=int(datetime.now(UTC).timestamp()),
    )
    browser.cookies.clear()
    browser.cookies.set("session", wrong_generation)
    assert (await browser.get("/tenants")).status_code == 303
