"""Members: list, change role, remove, leave; the last owner stays; nobody grants beyond their own."""

from __future__ import annotations

import uuid

import pytest

from platform_core.access.permissions import builtin_role_id
from tests.conftest import signed_in
from tests.factories import access_token, create_role, create_user
from tests.platform_core.auth.test_sign_in import audit_actions


@pytest.fixture
async def admin_a(app, db, settings, tenant_a):
    """A client signed in as an admin of alpha (everything but billing)."""
    user = await create_user(db, tenant_a, role="admin")
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, user.id)) as client:
        client.user = user
        yield client


async def test_list_and_get_members(client_a, db, tenant_a, owner_a):
    viewer = await create_user(db, tenant_a, role="viewer", email="zz-viewer@example.org")
    page = (await client_a.get("/api/v1/members", params={"page_size": 100})).json()
    emails = [m["email"] for m in page["items"]]
    assert owner_a.email in emails
    assert viewer.email in emails
    assert page["total"] == len(emails)
    one = await client_a.get(f"/api/v1/members/{viewer.id}")
    assert one.status_code == 200
    assert one.json()["role"] == "viewer"
    assert "password_hash" not in one.json()


async def test_members_of_another_tenant_are_invisible(client_a, client_b, db, tenant_a, owner_a):
    member = await create_user(db, tenant_a, role="member")
    assert (await client_b.get(f"/api/v1/members/{member.id}")).status_code == 404
    assert (await client_b.patch(f"/api/v1/members/{member.id}", json={"role": "viewer"})).status_code == 404
    assert (await client_b.delete(f"/api/v1/members/{member.id}")).status_code == 404
    listed = {m["id"] for m in (await client_b.get("/api/v1/members")).json()["items"]}
    assert str(member.id) not in listed
    assert str(owner_a.id) not in listed
    assert (await client_a.get(f"/api/v1/members/{member.id}")).json()["role"] == "member"


async def test_change_role_takes_effect_on_the_next_request(app, client_a, db, settings, tenant_a):
    member = await create_user(db, tenant_a, role="member")
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, member.id)) as as_member:
        assert (await as_member.post("/api/v1/items", json={"title": "x"})).status_code == 201
        changed = await client_a.patch(f"/api/v1/members/{member.id}", json={"role": "viewer"})
        assert changed.status_code == 200
        assert changed.json()["role"] == "viewer"
        denied = await as_member.post("/api/v1/items", json={"title": "y"})
        assert denied.status_code == 403
        assert denied.json()["error"]["details"] == {"permission": "items:write"}
    assert "member.role_changed" in await audit_actions(db, tenant_a)


async def test_an_admin_cannot_make_owners_or_touch_them(admin_a, db, tenant_a, owner_a):
    member = await create_user(db, tenant_a, role="member")
    promote = await admin_a.patch(f"/api/v1/members/{member.id}", json={"role": "owner"})
    assert promote.status_code == 403
    assert promote.json()["error"]["code"] == "cannot_grant"
    assert promote.json()["error"]["details"] == {"missing_permissions": ["billing:manage"]}
    demote = await admin_a.patch(f"/api/v1/members/{owner_a.id}", json={"role": "viewer"})
    assert demote.status_code == 403
    assert demote.json()["error"]["code"] == "member_outranks_you"
    assert (await admin_a.delete(f"/api/v1/members/{owner_a.id}")).status_code == 403
    assert (await admin_a.patch(f"/api/v1/members/{member.id}", json={"role": "admin"})).status_code == 200


async def test_custom_role_grants_only_what_the_granter_holds(app, db, settings, tenant_a):
    manager_role = await create_role(
        db,
        tenant_a,
        "people-manager",
        # The viewer's reads (so a viewer does not outrank it), and managing members.
        ["members:read", "members:manage", "items:read", "uploads:read", "jobs:read", "chat:read"],
    )
    manager = await create_user(db, tenant_a, role_id=manager_role.id)
    member = await create_user(db, tenant_a, role="viewer")
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, manager.id)) as client:
        to_member = await client.patch(f"/api/v1/members/{member.id}", json={"role": "member"})
        assert to_member.status_code == 403, to_member.text
        assert to_member.json()["error"]["code"] == "cannot_grant", to_member.text
        assert "items:write" in to_member.json()["error"]["details"]["missing_permissions"]
        assert (
            await client.patch(f"/api/v1/members/{member.id}", json={"role": "people-manager"})
        ).status_code == 200


async def test_the_last_owner_can_neither_be_demoted_nor_removed_nor_leave(client_a, db, tenant_a, owner_a):
    demote = await client_a.patch(f"/api/v1/members/{owner_a.id}", json={"role": "admin"})
    assert demote.status_code == 409
    assert demote.json()["error"]["code"] == "last_owner"
    assert (await client_a.delete(f"/api/v1/members/{owner_a.id}")).status_code == 409
    assert (await client_a.delete("/api/v1/users/me")).status_code == 409
    second = await create_user(db, tenant_a, role="owner")
    assert (await client_a.patch(f"/api/v1/members/{owner_a.id}", json={"role": "admin"})).status_code == 200
    assert (await client_a.get(f"/api/v1/members/{second.id}")).json()["role"] == "owner"


async def test_removed_member_is_signed_out_at_once(app, client_a, db, settings, tenant_a):
    member = await create_user(db, tenant_a, role="member")
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, member.id)) as as_member:
        assert (await as_member.get("/api/v1/items")).status_code == 200
        assert (await client_a.delete(f"/api/v1/members/{member.id}")).status_code == 204
        assert (await as_member.get("/api/v1/items")).status_code == 401
    assert (await client_a.get(f"/api/v1/members/{member.id}")).status_code == 404
    assert "member.removed" in await audit_actions(db, tenant_a)


async def test_a_member_can_leave(app, db, settings, tenant_a):
    member = await create_user(db, tenant_a, role="viewer")
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, member.id)) as client:
        assert (await client.delete("/api/v1/users/me")).status_code == 204
        assert (await client.get("/api/v1/users/me")).status_code == 401
    assert "member.left" in await audit_actions(db, tenant_a)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"role": "emperor"}, 422, "unknown_role"),
        ({"role": ""}, 422, "validation_error"),
        ({"role": "viewer", "email": "x@example.org"}, 422, "validation_error"),
    ],
)
async def test_bad_role_changes_are_4xx_and_change_nothing(client_a, db, tenant_a, body, status, code):
    member = await create_user(db, tenant_a, role="member")
    response = await client_a.patch(f"/api/v1/members/{member.id}", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert (await client_a.get(f"/api/v1/members/{member.id}")).json()["role"] == "member"


async def test_unknown_member_is_404(client_a):
    assert (await client_a.get(f"/api/v1/members/{uuid.uuid4()}")).status_code == 404
    assert (await client_a.get("/api/v1/members/not-a-uuid")).status_code == 422


def test_builtin_role_ids_are_stable():
    assert builtin_role_id("owner") == builtin_role_id("owner")
    assert builtin_role_id("owner") != builtin_role_id("admin")


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(settings, sync_db, tenant_service):
    """Concurrent requests on separate connections: one demotion wins, the other is 409, never a 500."""
    import asyncio

    from platform_core.access.models import User
    from platform_core.app.main import create_app
    from platform_core.kernel.db.engines import Database
    from tests.factories import UserFactory

    tenant = tenant_service.create(slug=f"own-{uuid.uuid4().hex[:8]}", name="Two owners")
    first, second = (UserFactory.build(role_id=builtin_role_id("owner")) for _ in range(2))
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        session.add_all([first, second])
    database = Database(settings, pool_size=4)
    app = create_app(settings, db=database, access_log=False)
    try:
        clients = [signed_in(app, tenant, access_token(settings, tenant, u.id)) for u in (first, second)]
        async with clients[0] as one, clients[1] as two:
            answers = await asyncio.gather(
                one.patch(f"/api/v1/members/{second.id}", json={"role": "admin"}),
                two.patch(f"/api/v1/members/{first.id}", json={"role": "admin"}),
            )
        assert sorted(a.status_code for a in answers) in ([200, 403], [200, 409]), [a.text for a in answers]
        with sync_db.sync_session(tenant.schema_name) as session:
            owners = session.query(User).filter(User.role_id == builtin_role_id("owner")).count()
        assert owners == 1
    finally:
        await app.state.redis.aclose()
        await database.dispose()
