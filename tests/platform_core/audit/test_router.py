"""Audit log API: what the API records, filters, paging, read-only access and tenant isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from platform_core.audit.models import AuditEvent
from tests.conftest import signed_in

AUDIT = "/api/v1/audit"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def add_events(db, tenant, *specs):
    """Store events directly, each `(minutes after START, action, actor_id, target_type, target_id)`."""
    rows = [
        AuditEvent(
            id=uuid.uuid4(),
            occurred_at=START + timedelta(minutes=minutes),
            action=action,
            actor_type="user" if actor_id else "system",
            actor_id=actor_id,
            actor_label=f"user-{minutes}" if actor_id else None,
            target_type=target_type,
            target_id=target_id,
            ip="10.0.0.1",
            request_id=f"req-{minutes}",
            details={"n": minutes},
        )
        for minutes, action, actor_id, target_type, target_id in specs
    ]
    async with db.session(tenant.schema_name) as session:
        session.add_all(rows)
        await session.commit()
    return rows


@pytest.fixture
async def sample(db, tenant_a):
    """Six events of alpha at START + 0..5 minutes, by two actors, on two targets."""
    alice, bob = uuid.uuid4(), uuid.uuid4()
    await add_events(
        db,
        tenant_a,
        (0, "auth.sign_in", alice, "user", str(alice)),
        (1, "item.created", alice, "item", "i-1"),
        (2, "auth.sign_in", bob, "user", str(bob)),
        (3, "role.created", bob, "role", "r-1"),
        (4, "auth.sign_in", alice, "user", str(alice)),
        (5, "tenant.suspended", None, None, None),
    )
    return {"alice": alice, "bob": bob}


async def minutes_of(client, **params):
    response = await client.get(AUDIT, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [e["details"]["n"] for e in body["items"]], body["total"]


class TestRecordedThroughTheApi:
    async def test_key_and_settings_changes_appear_with_actor_ip_and_request_id(self, client_a, owner_a):
        created = await client_a.post(
            "/api/v1/api-keys",
            json={"name": "bot", "scopes": ["items:read"]},
            headers={"X-Request-ID": "req-create-key"},
        )
        assert created.status_code == 201
        key_id = created.json()["id"]
        revoked = await client_a.delete(
            f"/api/v1/api-keys/{key_id}", headers={"X-Request-ID": "req-revoke-key"}
        )
        assert revoked.status_code == 204
        changed = await client_a.patch(
            "/api/v1/tenant/settings", json={"allow_signup": True}, headers={"X-Request-ID": "req-settings"}
        )
        assert changed.status_code == 200

        body = (await client_a.get(AUDIT)).json()
        by_request = {e["request_id"]: e for e in body["items"]}
        assert body["total"] == 3
        actor = {"type": "user", "id": str(owner_a.id), "label": owner_a.email}
        create = by_request["req-create-key"]
        assert create["action"] == "api_key.created"
        assert create["actor"] == actor
        assert create["target"] == {"type": "api_key", "id": key_id}
        assert create["ip"] == "127.0.0.1"
        assert create["details"] == {"name": "bot", "scopes": ["items:read"], "expires_at": None}
        assert created.json()["secret"] not in (await client_a.get(AUDIT)).text
        revoke = by_request["req-revoke-key"]
        assert (revoke["action"], revoke["actor"], revoke["target"]) == (
            "api_key.revoked",
            actor,
            {"type": "api_key", "id": key_id},
        )
        settings = by_request["req-settings"]
        assert settings["action"] == "tenant.settings_changed"
        assert settings["actor"] == actor
        assert settings["details"] == {"allow_signup": {"from": False, "to": True}}
        assert all(e["id"] and e["occurred_at"] and e["ip"] == "127.0.0.1" for e in body["items"])

    async def test_an_api_key_is_recorded_as_the_actor(self, app, client_a, tenant_a):
        key = (
            await client_a.post("/api/v1/api-keys", json={"name": "robot", "scopes": ["api_keys:manage"]})
        ).json()
        async with signed_in(app, tenant_a, key["secret"]) as by_key:
            assert (
                await by_key.post("/api/v1/api-keys", json={"name": "child", "scopes": ["api_keys:manage"]})
            ).status_code == 201
        body = (await client_a.get(AUDIT, params={"actor_id": key["id"]})).json()
        assert body["total"] == 1
        [event] = body["items"]
        assert event["actor"] == {"type": "api_key", "id": key["id"], "label": "robot"}
        assert event["details"]["name"] == "child"


class TestFiltersAndPaging:
    async def test_newest_first(self, client_a, sample):
        assert await minutes_of(client_a) == ([5, 4, 3, 2, 1, 0], 6)

    async def test_ties_on_time_are_broken_by_id_descending(self, client_a, db, tenant_a):
        rows = await add_events(db, tenant_a, *[(0, "x.same_time", None, None, None)] * 4)
        listed = (await client_a.get(AUDIT)).json()["items"]
        assert [e["id"] for e in listed] == sorted((str(r.id) for r in rows), reverse=True)

    async def test_filter_by_each_field(self, client_a, sample):
        alice = str(sample["alice"])
        assert await minutes_of(client_a, action="auth.sign_in") == ([4, 2, 0], 3)
        assert await minutes_of(client_a, action="auth.sign") == ([], 0)  # exact, not a prefix
        assert await minutes_of(client_a, actor_id=alice) == ([4, 1, 0], 3)
        assert await minutes_of(client_a, target_type="role") == ([3], 1)
        assert await minutes_of(client_a, target_type="user", target_id=alice) == ([4, 0], 2)
        assert await minutes_of(client_a, target_id="i-1") == ([1], 1)
        assert await minutes_of(client_a, actor_id=alice, action="auth.sign_in") == ([4, 0], 2)
        assert await minutes_of(client_a, actor_id=str(uuid.uuid4())) == ([], 0)

    async def test_filter_by_time_bounds_inclusive(self, client_a, sample):
        since = (START + timedelta(minutes=2)).isoformat()
        until = (START + timedelta(minutes=4)).isoformat()
        assert await minutes_of(client_a, since=since) == ([5, 4, 3, 2], 4)
        assert await minutes_of(client_a, until=until) == ([4, 3, 2, 1, 0], 5)
        assert await minutes_of(client_a, since=since, until=until) == ([4, 3, 2], 3)
        assert await minutes_of(client_a, since=since, until=since) == ([2], 1)
        # Other offsets name the same instant; naive times are read as UTC.
        assert await minutes_of(client_a, since="2026-03-01T14:03:00+02:00") == ([5, 4, 3], 3)
        assert await minutes_of(client_a, since="2026-03-01T12:03:00") == ([5, 4, 3], 3)
        assert await minutes_of(client_a, since="2026-03-01T12:03:00Z", action="auth.sign_in") == ([4], 1)

    async def test_pages_with_total(self, client_a, sample):
        assert await minutes_of(client_a, page_size=4) == ([5, 4, 3, 2], 6)
        assert await minutes_of(client_a, page_size=4, page=2) == ([1, 0], 6)
        assert await minutes_of(client_a, page_size=4, page=3) == ([], 6)
        assert await minutes_of(client_a, page_size=2, page=2, action="auth.sign_in") == ([0], 3)
        assert await minutes_of(client_a, page_size=2, page=5, action="auth.sign_in") == ([], 3)
        assert await minutes_of(client_a, page=3, action="nothing") == ([], 0)

    async def test_event_without_target_or_actor(self, client_a, sample):
        [event] = (await client_a.get(AUDIT, params={"action": "tenant.suspended"})).json()["items"]
        assert event["target"] is None
        assert event["actor"] == {"type": "system", "id": None, "label": None}
        assert (event["ip"], event["request_id"]) == ("10.0.0.1", "req-5")

    @pytest.mark.parametrize(
        "params",
        [
            {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
            {"since": "2026-03-01T12:00:01", "until": "2026-03-01T12:00:00"},
            {"since": "yesterday"},
            # Numbers are not dates, although pydantic alone reads them as Unix times.
            {"until": "0.5"},
            {"since": "1772366400"},
            {"until": "0"},
            {"since": "-1"},
            {"until": "2026-13-01T00:00:00Z"},
            {"actor_id": "not-a-uuid"},
            {"action": ""},
            {"action": "x" * 65},
            {"target_type": "x" * 33},
            {"target_id": "x" * 65},
            {"page": 0},
            {"page_size": 0},
            {"page_size": 101},
        ],
    )
    async def test_bad_filters_are_422(self, client_a, params):
        response = await client_a.get(AUDIT, params=params)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"]

    async def test_extreme_but_valid_times_do_not_fail(self, client_a, sample):
        assert await minutes_of(client_a, since="0001-01-01T00:00:00Z", until="9999-12-31T23:59:59Z") == (
            [5, 4, 3, 2, 1, 0],
            6,
        )
        assert await minutes_of(client_a, since="9999-12-31T23:59:59-12:00") == ([], 0)


class TestReadOnly:
    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
    async def test_no_write_endpoints(self, client_a, sample, method):
        response = await client_a.request(method, AUDIT, json={"action": "forged"})
        assert response.status_code == 405
        event_id = (await client_a.get(AUDIT)).json()["items"][0]["id"]
        response = await client_a.request(method, f"{AUDIT}/{event_id}", json={"action": "forged"})
        assert response.status_code in (404, 405)
        assert (await minutes_of(client_a))[1] == 6


class TestAccess:
    async def test_viewer_is_denied(self, viewer_a):
        response = await viewer_a.get(AUDIT)
        assert response.status_code == 403
        error = response.json()["error"]
        assert (error["code"], error["details"]) == ("permission_denied", {"permission": "audit:read"})

    async def test_viewer_is_denied_before_the_filters_are_checked(self, viewer_a):
        response = await viewer_a.get(AUDIT, params={"since": "2026-03-02T00:00:00Z", "until": "2026-03-01"})
        assert response.status_code == 403

    async def test_anonymous_is_401(self, anon_a):
        response = await anon_a.get(AUDIT)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"

    async def test_key_without_audit_read_is_denied(self, app, client_a, tenant_a):
        key = (await client_a.post("/api/v1/api-keys", json={"name": "k", "scopes": ["items:read"]})).json()
        async with signed_in(app, tenant_a, key["secret"]) as by_key:
            assert (await by_key.get(AUDIT)).status_code == 403


class TestCrossTenant:
    async def test_alphas_events_are_absent_from_betas_log(self, client_a, client_b, db, tenant_b, sample):
        await add_events(db, tenant_b, (9, "beta.thing", None, None, None))
        await client_a.patch("/api/v1/tenant/settings", json={"allow_signup": True})
        beta = (await client_b.get(AUDIT)).json()
        assert beta["total"] == 1
        assert [e["action"] for e in beta["items"]] == ["beta.thing"]
        assert (await client_b.get(AUDIT, params={"actor_id": str(sample["alice"])})).json()["total"] == 0
        assert (await client_b.get(AUDIT, params={"action": "tenant.settings_changed"})).json()["total"] == 0
        assert (await client_a.get(AUDIT)).json()["total"] == 7
