"""API keys API: creation within your own permissions, the secret shown once, use, revocation, isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from platform_core.access.cache import PRINCIPALS
from platform_core.access.models import ApiKey, User
from platform_core.access.permissions import builtin_role_id
from platform_core.audit.models import AuditEvent
from platform_core.kernel.security.tokens import hash_opaque_token, new_opaque_token
from tests.conftest import signed_in
from tests.factories import access_token, create_api_key, create_role, create_user

KEYS = "/api/v1/api-keys"
ITEMS = "/api/v1/items"


async def create_key(client, scopes, **fields):
    response = await client.post(KEYS, json={"name": "ci", "scopes": scopes, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def insert_key(db, tenant, created_by, *, name="stored", scopes=("items:read",), **fields):
    """Store a key directly (for listing tests); returns the row and its secret."""
    secret = "pk_" + new_opaque_token()
    key = ApiKey(
        id=uuid.uuid4(),
        name=name,
        prefix=secret[:12],
        secret_hash=hash_opaque_token(secret),
        scopes=list(scopes),
        created_by_id=created_by,
        **fields,
    )
    async with db.session(tenant.schema_name) as session:
        session.add(key)
        await session.commit()
    return key, secret


async def set_key(db, tenant, key_id, **values):
    async with db.session(tenant.schema_name) as session:
        await session.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(str(key_id))).values(**values))
        await session.commit()


async def events(db, tenant, action):
    async with db.session(tenant.schema_name) as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows)


class TestCreate:
    async def test_returns_the_secret_once_and_stores_only_its_hash(self, client_a, db, tenant_a, owner_a):
        response = await client_a.post(
            KEYS, json={"name": "  deploy bot ", "scopes": ["items:read", "items:write", "items:read"]}
        )
        assert response.status_code == 201
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        secret = body["secret"]
        assert secret.startswith("pk_")
        assert len(secret) > 40
        assert body["prefix"] == secret[:12]
        assert body["name"] == "deploy bot"
        assert body["scopes"] == ["items:read", "items:write"]
        assert body["created_by"] == str(owner_a.id)
        assert body["status"] == "active"
        assert (body["expires_at"], body["revoked_at"], body["last_used_at"]) == (None, None, None)
        assert body["created_at"]
        async with db.session(tenant_a.schema_name) as session:
            row = await session.get(ApiKey, uuid.UUID(body["id"]))
        assert row.secret_hash == hash_opaque_token(secret)
        assert secret not in (row.secret_hash, row.prefix)

        fetched = await client_a.get(f"{KEYS}/{body['id']}")
        listed = await client_a.get(KEYS)
        for response in (fetched, listed):
            assert response.status_code == 200
            assert secret not in response.text
            assert row.secret_hash not in response.text
            assert "secret" not in response.text
        assert fetched.json() == {k: v for k, v in body.items() if k != "secret"}

    async def test_with_an_expiry(self, client_a):
        expires = datetime.now(UTC) + timedelta(days=30)
        body = await create_key(client_a, ["items:read"], expires_at=expires.isoformat())
        assert datetime.fromisoformat(body["expires_at"]) == expires
        assert body["status"] == "active"

    async def test_is_audited_without_the_secret(self, client_a, db, tenant_a, owner_a):
        body = await create_key(client_a, ["items:read"])
        [event] = await events(db, tenant_a, "api_key.created")
        assert (event.actor_type, event.actor_id, event.actor_label) == ("user", owner_a.id, owner_a.email)
        assert (event.target_type, event.target_id) == ("api_key", body["id"])
        assert event.details == {"name": "ci", "scopes": ["items:read"], "expires_at": None}
        assert body["secret"] not in str(event.details)

    @pytest.mark.parametrize(
        ("payload", "code"),
        [
            ({"name": "", "scopes": ["items:read"]}, "validation_error"),
            ({"name": "   ", "scopes": ["items:read"]}, "validation_error"),
            ({"name": "x" * 101, "scopes": ["items:read"]}, "validation_error"),
            ({"scopes": ["items:read"]}, "validation_error"),
            ({"name": "k"}, "validation_error"),
            ({"name": "k", "scopes": []}, "validation_error"),
            ({"name": "k", "scopes": "items:read"}, "validation_error"),
            ({"name": "k", "scopes": [""]}, "validation_error"),
            ({"name": "k", "scopes": ["x" * 65]}, "validation_error"),
            ({"name": "k", "scopes": [1]}, "validation_error"),
            ({"name": "k", "scopes": ["items:read"], "secret": "pk_mine"}, "validation_error"),
            ({"name": "k", "scopes": ["items:read"], "expires_at": "soon"}, "validation_error"),
            (
                {"name": "k", "scopes": ["items:read"], "expires_at": "2030-01-01T00:00:00"},
                "validation_error",
            ),
            (
                {"name": "k", "scopes": ["items:read"], "expires_at": "2001-01-01T00:00:00Z"},
                "invalid_expires_at",
            ),
            (
                {"name": "k", "scopes": ["items:read"], "expires_at": "9999-12-31T23:59:59Z"},
                "invalid_expires_at",
            ),
            (["name"], "validation_error"),
        ],
    )
    async def test_bad_input_is_422_and_creates_nothing(self, client_a, payload, code):
        response = await client_a.post(KEYS, json=payload)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == code
        assert (await client_a.get(KEYS)).json()["total"] == 0

    async def test_expiry_more_than_two_years_ahead_is_refused(self, client_a):
        too_far = datetime.now(UTC) + timedelta(days=2 * 365 + 1)
        response = await client_a.post(
            KEYS, json={"name": "k", "scopes": ["items:read"], "expires_at": too_far.isoformat()}
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_expires_at"

    async def test_unknown_scope_is_422_naming_it(self, client_a):
        response = await client_a.post(KEYS, json={"name": "k", "scopes": ["items:read", "items:destroy"]})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "unknown_permission"
        assert error["details"] == {"permission": "items:destroy"}
        assert "items:destroy" in error["message"]
        assert (await client_a.get(KEYS)).json()["total"] == 0

    async def test_invalid_json_is_422(self, client_a):
        response = await client_a.post(
            KEYS, content=b'{"name": ', headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_json"


class TestCannotGrantBeyondYourself:
    async def test_scopes_beyond_the_callers_permissions_are_403(self, app, settings, db, tenant_a):
        role = await create_role(db, tenant_a, "key-manager", ["api_keys:manage", "items:read"])
        user = await create_user(db, tenant_a, role_id=role.id)
        async with signed_in(app, tenant_a, access_token(settings, tenant_a, user.id)) as client:
            refused = await client.post(KEYS, json={"name": "k", "scopes": ["items:read", "items:write"]})
            assert refused.status_code == 403
            error = refused.json()["error"]
            assert error["code"] == "cannot_grant"
            assert error["details"] == {"missing_permissions": ["items:write"]}
            assert (await client.get(KEYS)).json()["total"] == 0
            allowed = await client.post(KEYS, json={"name": "k", "scopes": ["items:read", "api_keys:manage"]})
            assert allowed.status_code == 201
            assert allowed.json()["created_by"] == str(user.id)

    async def test_a_key_creates_keys_within_its_own_scopes_for_its_creator(
        self, app, client_a, tenant_a, owner_a
    ):
        manager = await create_key(client_a, ["api_keys:manage", "items:read"])
        async with signed_in(app, tenant_a, manager["secret"]) as by_key:
            refused = await by_key.post(KEYS, json={"name": "k", "scopes": ["items:write"]})
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "cannot_grant"
            child = await by_key.post(KEYS, json={"name": "child", "scopes": ["items:read"]})
            assert child.status_code == 201
            assert child.json()["created_by"] == str(owner_a.id)
            assert (
                await by_key.get(ITEMS, headers={"Authorization": f"Bearer {child.json()['secret']}"})
            ).status_code == 200


class TestUsingAKey:
    async def test_key_holds_its_scopes_only_and_dies_when_revoked(self, app, client_a, db, tenant_a):
        key = await create_key(client_a, ["items:read"])
        async with signed_in(app, tenant_a, key["secret"]) as by_key:
            assert (await by_key.get(ITEMS)).status_code == 200
            denied = await by_key.post(ITEMS, json={"title": "x"})
            assert denied.status_code == 403
            assert denied.json()["error"]["code"] == "permission_denied"

            assert (await client_a.delete(f"{KEYS}/{key['id']}")).status_code == 204
            revoked = await by_key.get(ITEMS)
            assert revoked.status_code == 401
            assert revoked.json()["error"]["code"] == "invalid_api_key"
        shown = (await client_a.get(f"{KEYS}/{key['id']}")).json()
        assert shown["status"] == "revoked"
        assert shown["revoked_at"] is not None
        assert shown["last_used_at"] is not None

    async def test_revoking_again_is_an_idempotent_204(self, client_a, db, tenant_a):
        key = await create_key(client_a, ["items:read"])
        assert (await client_a.delete(f"{KEYS}/{key['id']}")).status_code == 204
        first = (await client_a.get(f"{KEYS}/{key['id']}")).json()["revoked_at"]
        assert (await client_a.delete(f"{KEYS}/{key['id']}")).status_code == 204
        assert (await client_a.get(f"{KEYS}/{key['id']}")).json()["revoked_at"] == first
        [event] = await events(db, tenant_a, "api_key.revoked")
        assert (event.target_type, event.target_id, event.details) == ("api_key", key["id"], {"name": "ci"})

    async def test_expired_key_is_401(self, app, client_a, db, tenant_a):
        key = await create_key(client_a, ["items:read"])
        await set_key(db, tenant_a, key["id"], expires_at=datetime.now(UTC) - timedelta(seconds=1))
        async with signed_in(app, tenant_a, key["secret"]) as by_key:
            response = await by_key.get(ITEMS)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert (await client_a.get(f"{KEYS}/{key['id']}")).json()["status"] == "expired"

    async def test_key_loses_what_its_creator_loses(self, app, client_a, db, tenant_a, owner_a):
        key = await create_key(client_a, ["items:read", "items:write"])
        async with signed_in(app, tenant_a, key["secret"]) as by_key:
            assert (await by_key.post(ITEMS, json={"title": "before"})).status_code == 201
            async with db.session(tenant_a.schema_name) as session:
                await session.execute(
                    update(User).where(User.id == owner_a.id).values(role_id=builtin_role_id("viewer"))
                )
                await session.commit()
            # A change made by hand in the database reaches API processes by NOTIFY (test_principal_cache).
            PRINCIPALS.invalidate_tenant(tenant_a.id)
            demoted = await by_key.post(ITEMS, json={"title": "after"})
            assert demoted.status_code == 403
            assert demoted.json()["error"]["code"] == "permission_denied"
            assert (await by_key.get(ITEMS)).status_code == 200

    async def test_key_of_a_deleted_creator_is_401(self, app, settings, db, tenant_a):
        creator = await create_user(db, tenant_a, role="admin")
        async with signed_in(app, tenant_a, access_token(settings, tenant_a, creator.id)) as client:
            key = await create_key(client, ["items:read"])
        async with db.session(tenant_a.schema_name) as session:
            await session.execute(delete(User).where(User.id == creator.id))
            await session.commit()
        async with signed_in(app, tenant_a, key["secret"]) as by_key:
            response = await by_key.get(ITEMS)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"

    async def test_key_is_refused_on_another_tenants_host(self, app, client_a, tenant_b):
        key = await create_key(client_a, ["items:read"])
        async with signed_in(app, tenant_b, key["secret"]) as on_beta:
            response = await on_beta.get(ITEMS)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"

    async def test_key_is_refused_on_its_own_routes_without_api_keys_manage(self, app, client_a, tenant_a):
        key = await create_key(client_a, ["items:read"])
        async with signed_in(app, tenant_a, key["secret"]) as by_key:
            response = await by_key.get(KEYS)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


class TestListAndGet:
    async def test_list_pages_newest_first_with_status(self, client_a, db, tenant_a, owner_a):
        start = datetime(2026, 1, 1, tzinfo=UTC)
        now = datetime.now(UTC)
        for minute in range(5):
            await insert_key(
                db, tenant_a, owner_a.id, name=f"k{minute}", created_at=start + timedelta(minutes=minute)
            )
        await insert_key(
            db, tenant_a, owner_a.id, name="revoked", created_at=start + timedelta(hours=1), revoked_at=now
        )
        await insert_key(
            db,
            tenant_a,
            owner_a.id,
            name="expired",
            created_at=start + timedelta(hours=2),
            expires_at=now - timedelta(days=1),
        )
        first = (await client_a.get(KEYS, params={"page_size": 3})).json()
        second = (await client_a.get(KEYS, params={"page_size": 3, "page": 2})).json()
        third = (await client_a.get(KEYS, params={"page_size": 3, "page": 3})).json()
        beyond = (await client_a.get(KEYS, params={"page_size": 3, "page": 9})).json()
        assert (first["total"], first["page"], first["page_size"]) == (7, 1, 3)
        names = [k["name"] for page in (first, second, third) for k in page["items"]]
        assert names == ["expired", "revoked", "k4", "k3", "k2", "k1", "k0"]
        assert (beyond["total"], beyond["items"]) == (7, [])
        statuses = {k["name"]: k["status"] for k in first["items"]}
        assert statuses == {"expired": "expired", "revoked": "revoked", "k4": "active"}

    @pytest.mark.parametrize("query", ["page=0", "page_size=0", "page_size=101", "page=x"])
    async def test_bad_paging_is_422(self, client_a, query):
        response = await client_a.get(f"{KEYS}?{query}")
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_error"

    async def test_unknown_id_is_404(self, client_a):
        for method in ("GET", "DELETE"):
            response = await client_a.request(method, f"{KEYS}/{uuid.uuid4()}")
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "api_key_not_found"

    async def test_malformed_id_is_422(self, client_a):
        for method in ("GET", "DELETE"):
            response = await client_a.request(method, f"{KEYS}/not-a-uuid")
            assert response.status_code == 422
            assert response.json()["error"]["code"] == "validation_error"

    async def test_no_update_route(self, client_a):
        key = await create_key(client_a, ["items:read"])
        response = await client_a.patch(f"{KEYS}/{key['id']}", json={"scopes": ["items:write"]})
        assert response.status_code == 405


class TestAccess:
    """Every route needs api_keys:manage, and checks it before looking anything up."""

    @pytest.fixture
    async def routes(self, db, tenant_a, owner_a):
        key, _ = await insert_key(db, tenant_a, owner_a.id)
        return [
            ("GET", KEYS, None),
            ("POST", KEYS, {"name": "k", "scopes": ["items:read"]}),
            ("GET", f"{KEYS}/{key.id}", None),
            ("DELETE", f"{KEYS}/{key.id}", None),
            ("GET", f"{KEYS}/{uuid.uuid4()}", None),
            ("DELETE", f"{KEYS}/{uuid.uuid4()}", None),
        ]

    async def test_viewer_is_denied(self, viewer_a, routes, client_a):
        for method, path, body in routes:
            response = await viewer_a.request(method, path, json=body)
            assert response.status_code == 403, (method, path)
            error = response.json()["error"]
            assert error["code"] == "permission_denied"
            assert error["details"] == {"permission": "api_keys:manage"}
        listed = (await client_a.get(KEYS)).json()
        assert listed["total"] == 1
        assert listed["items"][0]["status"] == "active"

    async def test_anonymous_is_401(self, anon_a, routes, client_a):
        for method, path, body in routes:
            response = await anon_a.request(method, path, json=body)
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["code"] == "not_authenticated"
        assert (await client_a.get(KEYS)).json()["items"][0]["status"] == "active"


class TestCrossTenant:
    async def test_other_tenant_neither_sees_nor_revokes_a_key(
        self, client_a, client_b, db, tenant_b, owner_b
    ):
        key = await create_key(client_a, ["items:read"])
        await create_api_key(db, tenant_b, owner_b, ["items:read"])  # beta's plan has no API keys to create
        listed = (await client_b.get(KEYS)).json()
        assert [k["name"] for k in listed["items"]] == ["test key"]
        assert listed["total"] == 1
        for method in ("GET", "DELETE"):
            response = await client_b.request(method, f"{KEYS}/{key['id']}")
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "api_key_not_found"
        assert (await client_a.get(f"{KEYS}/{key['id']}")).json()["status"] == "active"
        assert [k["id"] for k in (await client_a.get(KEYS)).json()["items"]] == [key["id"]]
