"""Operators list, inspect, suspend and resume tenants, and list their members."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from platform_core.audit.models import AuditEvent
from platform_core.audit.service import AuditAction
from tenants.models import Tenant
from tests.conftest import client_for, host_of, owner_client
from tests.factories import access_token, create_user
from tests.platform_core.operators.conftest import bearer


def _slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _audit_events(db, tenant, action: AuditAction) -> list[AuditEvent]:
    async with db.session(tenant.schema_name) as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action.value).order_by(AuditEvent.occurred_at)
        return list((await session.scalars(stmt)).all())


class TestListAndShow:
    async def test_list_pages_through_every_tenant_by_slug(self, admin, db, tenant_a, tenant_b):
        async with db.session(None) as session:
            count = await session.scalar(select(func.count()).select_from(Tenant))
        first = (await admin.get("/api/v1/operator/tenants", params={"page_size": 100})).json()
        assert first["total"] == count
        assert (first["page"], first["page_size"]) == (1, 100)
        slugs = [t["slug"] for t in first["items"]]
        assert {"alpha", "beta"} <= set(slugs)
        assert slugs == sorted(slugs)
        one = (await admin.get("/api/v1/operator/tenants", params={"page": 2, "page_size": 1})).json()
        assert [t["slug"] for t in one["items"]] == slugs[1:2]
        assert one["total"] == count
        beyond = (await admin.get("/api/v1/operator/tenants", params={"page": 100_000})).json()
        assert (beyond["items"], beyond["total"]) == ([], count)

    async def test_filter_by_status(self, admin, tenant_service):
        slug = _slug("flt")
        tenant_service.create(slug=slug, name="Filtered")
        tenant_service.suspend(slug, reason="testing the filter")
        suspended = (await admin.get("/api/v1/operator/tenants", params={"status": "suspended"})).json()
        assert slug in {t["slug"] for t in suspended["items"]}
        assert {t["status"] for t in suspended["items"]} == {"suspended"}
        active = (
            await admin.get("/api/v1/operator/tenants", params={"status": "active", "page_size": 100})
        ).json()
        assert slug not in {t["slug"] for t in active["items"]}
        assert "alpha" in {t["slug"] for t in active["items"]}

    async def test_search_in_slug_name_and_owner_email(self, admin, tenant_service):
        marker = uuid.uuid4().hex[:6]
        by_slug = tenant_service.create(slug=f"s{marker}-x", name="Plain")
        by_name = tenant_service.create(slug=_slug("nm"), name=f"Named {marker.upper()}")
        by_owner = tenant_service.create(
            slug=_slug("ow"), name="Owned", owner_email=f"boss-{marker}@example.org"
        )
        found = (await admin.get("/api/v1/operator/tenants", params={"search": marker})).json()
        assert {t["slug"] for t in found["items"]} == {by_slug.slug, by_name.slug, by_owner.slug}
        literal = (await admin.get("/api/v1/operator/tenants", params={"search": "%"})).json()
        assert literal["total"] == 0
        too_long = await admin.get("/api/v1/operator/tenants", params={"search": "x" * 101})
        assert too_long.status_code == 422

    @pytest.mark.parametrize(
        "params", [{"status": "bogus"}, {"page": 0}, {"page_size": 101}, {"page_size": 0}, {"page": "x"}]
    )
    async def test_bad_query_is_422(self, admin, params):
        response = await admin.get("/api/v1/operator/tenants", params=params)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_error"

    async def test_show(self, admin, tenant_a):
        response = await admin.get("/api/v1/operator/tenants/alpha")
        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["slug"], body["name"], body["status"]) == (
            str(tenant_a.id),
            "alpha",
            "Alpha",
            "active",
        )
        assert body["schema_name"] == tenant_a.schema_name

    @pytest.mark.parametrize("slug", ["no-such-tenant", "Alpha", "a" * 200, "bad%00slug", "%F0%9F%92%A5"])
    @pytest.mark.parametrize("suffix", ["", "/members"])
    async def test_unknown_slug_is_404(self, admin, slug, suffix):
        response = await admin.get(f"/api/v1/operator/tenants/{slug}{suffix}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "tenant_not_found"

    async def test_anonymous_callers_learn_nothing_about_slugs(self, admin_anon):
        for slug in ("alpha", "no-such-tenant"):
            response = await admin_anon.get(f"/api/v1/operator/tenants/{slug}")
            assert response.status_code == 401


class TestSuspendAndResume:
    async def test_suspend_closes_the_host_and_is_audited(
        self, live_app, live_admin, db, settings, sync_db, tenant_service, live_operator
    ):
        # On committed data: the route's unit of work commits the suspension before answering, and
        # the host resolver (a connection of its own) then sees it.
        operator = live_operator
        slug = _slug("sus")
        tenant = tenant_service.create(slug=slug, name="Sus")
        async with owner_client(live_app, settings, sync_db, tenant) as owner:
            assert (await owner.get("/api/v1/items")).status_code == 200
            response = await live_admin.post(
                f"/api/v1/operator/tenants/{slug}/suspend", json={"reason": " abuse report "}
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["status"], body["suspended_reason"]) == ("suspended", "abuse report")
            live_app.state.tenant_resolver.invalidate()  # what the NOTIFY listener does in a running app
            closed = await owner.get("/api/v1/items")
            assert closed.status_code == 403
            assert closed.json()["error"]["code"] == "tenant_suspended"
            assert "abuse report" in closed.json()["error"]["message"]
        assert tenant_service.get(slug).status == "suspended"
        [event] = await _audit_events(db, tenant, AuditAction.TENANT_SUSPENDED)
        assert (event.actor_type, event.actor_id, event.actor_label) == (
            "operator",
            operator.id,
            operator.email,
        )
        assert (event.target_type, event.target_id) == ("tenant", str(tenant.id))
        assert event.details == {"reason": "abuse report"}
        assert event.ip == "127.0.0.1"

    async def test_resume_reopens_the_host_and_is_audited(
        self, live_app, live_admin, db, settings, sync_db, tenant_service, live_operator
    ):
        operator = live_operator
        slug = _slug("res")
        tenant = tenant_service.create(slug=slug, name="Res")
        tenant_service.suspend(slug, reason="payment overdue")
        live_app.state.tenant_resolver.invalidate()
        async with owner_client(live_app, settings, sync_db, tenant) as owner:
            assert (await owner.get("/api/v1/items")).status_code == 403
            response = await live_admin.post(f"/api/v1/operator/tenants/{slug}/resume")
            assert response.status_code == 200, response.text
            assert (response.json()["status"], response.json()["suspended_reason"]) == ("active", None)
            live_app.state.tenant_resolver.invalidate()
            assert (await owner.get("/api/v1/items")).status_code == 200
        [event] = await _audit_events(db, tenant, AuditAction.TENANT_RESUMED)
        assert (event.actor_type, event.actor_id) == ("operator", operator.id)

    async def test_resume_cancels_a_pending_deletion_and_suspend_refuses_it(self, admin, db, tenant_service):
        slug = _slug("del")
        tenant = tenant_service.create(slug=slug, name="Del")
        tenant_service.mark_deleted(slug)
        refused = await admin.post(f"/api/v1/operator/tenants/{slug}/suspend", json={"reason": "too late"})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "invalid_tenant_state"
        assert await _audit_events(db, tenant, AuditAction.TENANT_SUSPENDED) == []
        resumed = await admin.post(f"/api/v1/operator/tenants/{slug}/resume")
        assert resumed.status_code == 200
        assert (resumed.json()["status"], resumed.json()["purge_after"]) == ("active", None)

    @pytest.mark.parametrize("action", ["suspend", "resume"])
    @pytest.mark.parametrize("slug", ["no-such-tenant", "NOPE", "x%00y"])
    async def test_unknown_slug_is_404(self, admin, action, slug):
        response = await admin.post(f"/api/v1/operator/tenants/{slug}/{action}", json={"reason": "whatever"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "tenant_not_found"

    @pytest.mark.parametrize(
        ("kwargs", "code"),
        [
            ({"json": {}}, "validation_error"),
            ({"json": {"reason": ""}}, "validation_error"),
            ({"json": {"reason": "   "}}, "validation_error"),
            ({"json": {"reason": "x" * 501}}, "validation_error"),
            ({"json": {"reason": 5}}, "validation_error"),
            ({"json": {"reason": "nul \u0000 byte"}}, "validation_error"),
            ({"json": {"reason": "ok", "extra": True}}, "validation_error"),
            ({"json": "just a string"}, "validation_error"),
            ({"content": b"{not json", "headers": {"content-type": "application/json"}}, "invalid_json"),
            ({}, "invalid_json"),
        ],
    )
    async def test_bad_bodies_are_422_and_change_nothing(self, admin, tenant_a, kwargs, code):
        response = await admin.post("/api/v1/operator/tenants/alpha/suspend", **kwargs)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code
        assert (await admin.get("/api/v1/operator/tenants/alpha")).json()["status"] == "active"

    async def test_the_longest_reason_is_accepted(self, admin, tenant_service):
        slug = _slug("long")
        tenant_service.create(slug=slug, name="Long")
        response = await admin.post(f"/api/v1/operator/tenants/{slug}/suspend", json={"reason": "r" * 500})
        assert response.status_code == 200
        assert response.json()["suspended_reason"] == "r" * 500

    async def test_callers_other_than_operators_are_refused(self, admin_anon, settings, tenant_a, owner_a):
        for headers in ({}, bearer(access_token(settings, tenant_a, owner_a.id))):
            response = await admin_anon.post(
                "/api/v1/operator/tenants/alpha/suspend", json={"reason": "nope"}, headers=headers
            )
            assert response.status_code == 401


class TestMembers:
    async def test_lists_the_tenants_users_with_their_roles(self, admin, db, tenant_a, tenant_b):
        owner = await create_user(db, tenant_a, role="owner", email="aa-owner@alpha.example.org")
        viewer = await create_user(
            db, tenant_a, role="viewer", email="ab-viewer@alpha.example.org", email_verified_at=None
        )
        other = await create_user(db, tenant_b, role="owner", email="aa-other@beta.example.org")
        body = (await admin.get("/api/v1/operator/tenants/alpha/members", params={"page_size": 100})).json()
        by_email = {m["email"]: m for m in body["items"]}
        assert {owner.email, viewer.email} <= set(by_email)
        assert other.email not in by_email
        assert body["total"] == len(body["items"])
        assert by_email[owner.email] == {
            "id": str(owner.id),
            "email": owner.email,
            "full_name": owner.full_name,
            "role": "owner",
            "is_active": True,
            "email_verified": True,
            "created_at": by_email[owner.email]["created_at"],
            "last_login_at": None,
        }
        assert (by_email[viewer.email]["role"], by_email[viewer.email]["email_verified"]) == ("viewer", False)
        emails = [m["email"] for m in body["items"]]
        assert emails == sorted(emails)

    async def test_pages(self, admin, db, tenant_a):
        for n in range(3):
            await create_user(db, tenant_a, role="member", email=f"page-{n}@alpha.example.org")
        page = (
            await admin.get("/api/v1/operator/tenants/alpha/members", params={"page": 2, "page_size": 2})
        ).json()
        assert (page["page"], page["page_size"]) == (2, 2)
        assert len(page["items"]) == min(2, page["total"] - 2)
        assert page["total"] >= 3
        assert (
            await admin.get("/api/v1/operator/tenants/alpha/members", params={"page_size": 101})
        ).status_code == 422


class TestAddOwner:
    async def test_a_new_owner_signs_in_and_the_change_is_audited(
        self, app, admin, db, tenant_service, operator
    ):
        tenant = tenant_service.create(slug=_slug("own"), name="Ownerless")
        response = await admin.post(
            f"/api/v1/operator/tenants/{tenant.slug}/owners",
            json={"email": "Rescue@Example.com", "password": "a long enough passphrase"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["email"], body["created"], body["link_sent"]) == ("rescue@example.com", True, False)
        async with client_for(app, host_of(tenant)) as client:
            signed_in = await client.post(
                "/api/v1/auth/token",
                json={"email": "rescue@example.com", "password": "a long enough passphrase"},
            )
        assert signed_in.status_code == 200
        [event] = await _audit_events(db, tenant, AuditAction.OWNER_ADDED)
        assert (event.actor_type, event.actor_id, event.target_id) == (
            "operator",
            operator.id,
            body["user_id"],
        )

    @pytest.mark.parametrize(
        ("json", "code"),
        [
            ({"email": "not-an-email"}, "validation_error"),
            ({"email": "a@example.com", "password": "short"}, "invalid_password"),
            ({"email": "a@example.com", "role": "admin"}, "validation_error"),
        ],
    )
    async def test_bad_bodies_are_422(self, admin, tenant_a, json, code):
        response = await admin.post(f"/api/v1/operator/tenants/{tenant_a.slug}/owners", json=json)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == code

    async def test_unknown_or_deleted_tenants_are_refused(self, admin, tenant_service):
        unknown = await admin.post("/api/v1/operator/tenants/no-such-tenant/owners", json={"email": "a@b.co"})
        assert unknown.status_code == 404
        slug = _slug("gone")
        tenant_service.create(slug=slug, name="Gone")
        tenant_service.mark_deleted(slug)
        deleted = await admin.post(f"/api/v1/operator/tenants/{slug}/owners", json={"email": "a@b.co"})
        assert deleted.status_code == 409
        assert deleted.json()["error"]["code"] == "invalid_tenant_state"

    async def test_callers_other_than_operators_are_refused(self, admin_anon, tenant_a):
        response = await admin_anon.post(
            f"/api/v1/operator/tenants/{tenant_a.slug}/owners", json={"email": "a@example.com"}
        )
        assert response.status_code == 401
