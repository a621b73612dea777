"""Tenant settings API: read, change, audit of real changes only, access and isolation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from platform_core.audit.models import AuditEvent
from platform_core.tenant_settings.models import TenantSettings
from tests.conftest import signed_in

SETTINGS = "/api/v1/tenant/settings"
CHANGED = "tenant.settings_changed"


async def changes_recorded(db, tenant):
    async with db.session(tenant.schema_name) as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == CHANGED)))


async def stored_row(db, tenant):
    async with db.session(tenant.schema_name) as session:
        return await session.get(TenantSettings, 1)


async def test_defaults_before_any_change(client_a, db, tenant_a):
    response = await client_a.get(SETTINGS)
    assert response.status_code == 200
    assert response.json() == {"allow_signup": False, "updated_at": None}
    assert await stored_row(db, tenant_a) is None


async def test_change_is_saved_and_audited(client_a, db, tenant_a, owner_a):
    response = await client_a.patch(SETTINGS, json={"allow_signup": True})
    assert response.status_code == 200
    body = response.json()
    assert body["allow_signup"] is True
    assert body["updated_at"] is not None
    assert (await client_a.get(SETTINGS)).json() == body
    assert (await stored_row(db, tenant_a)).allow_signup is True
    [event] = await changes_recorded(db, tenant_a)
    assert (event.actor_type, event.actor_id, event.actor_label) == ("user", owner_a.id, owner_a.email)
    assert event.target_type == "tenant_settings"
    assert event.details == {"allow_signup": {"from": False, "to": True}}
    assert event.ip == "127.0.0.1"

    back = await client_a.patch(SETTINGS, json={"allow_signup": False})
    assert back.json()["allow_signup"] is False
    details = [e.details for e in await changes_recorded(db, tenant_a)]
    assert sorted(d["allow_signup"]["to"] for d in details) == [False, True]


@pytest.mark.parametrize("payload", [{}, {"allow_signup": False}])
async def test_no_op_records_nothing_and_stores_nothing(client_a, db, tenant_a, payload):
    response = await client_a.patch(SETTINGS, json=payload)
    assert response.status_code == 200
    assert response.json() == {"allow_signup": False, "updated_at": None}
    assert await changes_recorded(db, tenant_a) == []
    assert await stored_row(db, tenant_a) is None


async def test_setting_the_current_value_again_records_nothing(client_a, db, tenant_a):
    first = (await client_a.patch(SETTINGS, json={"allow_signup": True})).json()
    again = await client_a.patch(SETTINGS, json={"allow_signup": True})
    assert again.status_code == 200
    assert again.json() == first
    assert len(await changes_recorded(db, tenant_a)) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"allow_signup": True, "theme": "dark"}},
        {"json": {"allow_signup": None}},
        {"json": {"allow_signup": "yes"}},
        {"json": {"allow_signup": "true"}},
        {"json": {"allow_signup": 1}},
        {"json": [True]},
        {"json": "allow_signup"},
        {"content": b'{"allow_signup": ', "headers": {"content-type": "application/json"}},
    ],
)
async def test_bad_input_is_422_and_changes_nothing(client_a, db, tenant_a, kwargs):
    response = await client_a.patch(SETTINGS, **kwargs)
    assert response.status_code == 422
    assert response.json()["error"]["code"] in ("validation_error", "invalid_json")
    assert (await client_a.get(SETTINGS)).json()["allow_signup"] is False
    assert await changes_recorded(db, tenant_a) == []


class TestAccess:
    async def test_viewer_is_denied(self, viewer_a, client_a, db, tenant_a):
        for method, body in (("GET", None), ("PATCH", {"allow_signup": True})):
            response = await viewer_a.request(method, SETTINGS, json=body)
            assert response.status_code == 403
            error = response.json()["error"]
            assert (error["code"], error["details"]) == (
                "permission_denied",
                {"permission": "tenant:settings"},
            )
        assert (await client_a.get(SETTINGS)).json()["allow_signup"] is False
        assert await changes_recorded(db, tenant_a) == []

    async def test_anonymous_is_401(self, anon_a, client_a):
        for method, body in (("GET", None), ("PATCH", {"allow_signup": True})):
            response = await anon_a.request(method, SETTINGS, json=body)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "not_authenticated"
        assert (await client_a.get(SETTINGS)).json()["allow_signup"] is False

    async def test_api_key_with_the_scope_may_change_and_is_the_recorded_actor(
        self, app, client_a, db, tenant_a
    ):
        key = (
            await client_a.post("/api/v1/api-keys", json={"name": "ops", "scopes": ["tenant:settings"]})
        ).json()
        async with signed_in(app, tenant_a, key["secret"]) as by_key:
            assert (await by_key.patch(SETTINGS, json={"allow_signup": True})).status_code == 200
        [event] = await changes_recorded(db, tenant_a)
        assert (event.actor_type, str(event.actor_id), event.actor_label) == ("api_key", key["id"], "ops")


async def test_tenants_settings_are_separate(client_a, client_b, db, tenant_b):
    assert (await client_a.patch(SETTINGS, json={"allow_signup": True})).status_code == 200
    assert (await client_b.get(SETTINGS)).json() == {"allow_signup": False, "updated_at": None}
    assert await changes_recorded(db, tenant_b) == []
    assert (await client_b.patch(SETTINGS, json={"allow_signup": True})).status_code == 200
    assert (await client_b.patch(SETTINGS, json={"allow_signup": False})).status_code == 200
    assert (await client_a.get(SETTINGS)).json()["allow_signup"] is True
