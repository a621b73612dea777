"""Roles: built-in ones are read-only; custom ones hold any subset of what their author holds."""

from __future__ import annotations

import uuid

import pytest

from platform_core.access.permissions import Permission
from tests.conftest import signed_in
from tests.factories import access_token, create_role, create_user
from tests.platform_core.auth.test_sign_in import audit_actions


async def test_builtin_roles_and_the_catalogue_are_listed(client_a):
    roles = (await client_a.get("/api/v1/roles")).json()["items"]
    assert [r["name"] for r in roles[:4]] == sorted(["owner", "admin", "member", "viewer"])
    owner = next(r for r in roles if r["name"] == "owner")
    assert set(owner["permissions"]) == {p.value for p in Permission}
    assert all(r["builtin"] for r in roles[:4])
    catalogue = (await client_a.get("/api/v1/roles/permissions")).json()
    assert {p["name"] for p in catalogue} == {p.value for p in Permission}


async def test_roles_are_paged_like_every_list(client_a):
    for name in ("ops", "billing-clerk", "auditor"):
        assert (
            await client_a.post("/api/v1/roles", json={"name": name, "permissions": []})
        ).status_code == 201
    first = (await client_a.get("/api/v1/roles", params={"page_size": 5})).json()
    assert (first["total"], first["page"], first["page_size"]) == (7, 1, 5)
    assert [r["name"] for r in first["items"]] == ["admin", "member", "owner", "viewer", "auditor"]
    second = (await client_a.get("/api/v1/roles", params={"page": 2, "page_size": 5})).json()
    assert [r["name"] for r in second["items"]] == ["billing-clerk", "ops"]
    past = (await client_a.get("/api/v1/roles", params={"page": 9, "page_size": 5})).json()
    assert (past["items"], past["total"]) == ([], 7)
    response = await client_a.get("/api/v1/roles", params={"page_size": 101})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_create_update_delete_a_custom_role(app, client_a, db, settings, tenant_a):
    created = await client_a.post(
        "/api/v1/roles",
        json={"name": "auditor", "description": "Reads the log", "permissions": ["audit:read"]},
    )
    assert created.status_code == 201, created.text
    role_id = created.json()["id"]
    user = await create_user(db, tenant_a, role_id=uuid.UUID(role_id))
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, user.id)) as as_auditor:
        assert (await as_auditor.get("/api/v1/items")).status_code == 403
        updated = await client_a.patch(
            f"/api/v1/roles/{role_id}", json={"permissions": ["audit:read", "items:read"]}
        )
        assert updated.status_code == 200
        assert updated.json()["permissions"] == ["audit:read", "items:read"]
        assert (await as_auditor.get("/api/v1/items")).status_code == 200
    in_use = await client_a.delete(f"/api/v1/roles/{role_id}")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["details"] == {"members": 1, "open_invitations": 0}
    assert (await client_a.patch(f"/api/v1/members/{user.id}", json={"role": "viewer"})).status_code == 200
    assert (await client_a.delete(f"/api/v1/roles/{role_id}")).status_code == 204
    assert (await client_a.get(f"/api/v1/roles/{role_id}")).status_code == 404
    assert {"role.created", "role.updated", "role.deleted"} <= set(await audit_actions(db, tenant_a))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "admin", "permissions": []}, 409, "role_name_taken"),
        ({"name": "x", "permissions": []}, 422, "validation_error"),
        ({"name": "Bad Name", "permissions": []}, 422, "validation_error"),
        ({"name": "ok-name", "permissions": ["items:fly"]}, 422, "unknown_permission"),
        ({"name": "ok-name", "permissions": "items:read"}, 422, "validation_error"),
    ],
)
async def test_bad_roles_are_refused(client_a, body, status, code):
    response = await client_a.post("/api/v1/roles", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    names = {r["name"] for r in (await client_a.get("/api/v1/roles")).json()["items"]}
    assert "ok-name" not in names


async def test_duplicate_custom_name_is_409(client_a):
    assert (await client_a.post("/api/v1/roles", json={"name": "ops", "permissions": []})).status_code == 201
    assert (await client_a.post("/api/v1/roles", json={"name": "ops", "permissions": []})).status_code == 409


async def test_builtin_roles_are_read_only(client_a):
    roles = {r["name"]: r["id"] for r in (await client_a.get("/api/v1/roles")).json()["items"]}
    response = await client_a.patch(f"/api/v1/roles/{roles['viewer']}", json={"permissions": ["items:write"]})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "builtin_role"
    assert (await client_a.delete(f"/api/v1/roles/{roles['member']}")).status_code == 409


async def test_nobody_creates_a_role_beyond_their_own_permissions(app, db, settings, tenant_a):
    maker = await create_role(db, tenant_a, "role-maker", ["roles:manage", "members:read", "items:read"])
    user = await create_user(db, tenant_a, role_id=maker.id)
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, user.id)) as client:
        beyond = await client.post("/api/v1/roles", json={"name": "writer", "permissions": ["items:write"]})
        assert beyond.status_code == 403
        assert beyond.json()["error"]["details"] == {"missing_permissions": ["items:write"]}
        within = await client.post("/api/v1/roles", json={"name": "reader", "permissions": ["items:read"]})
        assert within.status_code == 201


async def test_roles_of_another_tenant_are_invisible(client_a, client_b):
    role_id = (await client_a.post("/api/v1/roles", json={"name": "alpha-only", "permissions": []})).json()[
        "id"
    ]
    assert (await client_b.get(f"/api/v1/roles/{role_id}")).status_code == 404
    assert (await client_b.patch(f"/api/v1/roles/{role_id}", json={"description": "mine"})).status_code == 404
    assert (await client_b.delete(f"/api/v1/roles/{role_id}")).status_code == 404
    assert "alpha-only" not in {r["name"] for r in (await client_b.get("/api/v1/roles")).json()["items"]}


async def test_a_role_once_used_by_an_invitation_can_be_deleted(client_a):
    role_id = (
        await client_a.post("/api/v1/roles", json={"name": "temp", "permissions": ["items:read"]})
    ).json()["id"]
    invitation = (
        await client_a.post("/api/v1/invitations", json={"email": "t@example.org", "role": "temp"})
    ).json()
    in_use = await client_a.delete(f"/api/v1/roles/{role_id}")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["details"] == {"members": 0, "open_invitations": 1}
    assert (await client_a.delete(f"/api/v1/invitations/{invitation['id']}")).status_code == 204
    assert (await client_a.delete(f"/api/v1/roles/{role_id}")).status_code == 204
