"""POST /api/v1/auth/logout-all: every session of the user ends, the caller's own included."""

from __future__ import annotations

from tests.conftest import signed_in
from tests.factories import create_api_key, create_user
from tests.platform_core.auth.test_sign_in import audit_actions, sign_in


async def test_every_session_of_the_user_ends_and_nobody_elses(app, anon_a, db, tenant_a):
    user = await create_user(db, tenant_a, role="member")
    other = await create_user(db, tenant_a, role="member")
    laptop = (await sign_in(anon_a, user.email)).json()
    phone = (await sign_in(anon_a, user.email)).json()
    colleague = (await sign_in(anon_a, other.email)).json()
    async with signed_in(app, tenant_a, laptop["access_token"]) as client:
        assert (await client.post("/api/v1/auth/logout-all")).status_code == 204
        assert (await client.get("/api/v1/users/me")).status_code == 401
    async with signed_in(app, tenant_a, phone["access_token"]) as client:
        assert (await client.get("/api/v1/users/me")).status_code == 401
    for pair in (laptop, phone):
        refreshed = await anon_a.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refreshed.status_code == 401
    async with signed_in(app, tenant_a, colleague["access_token"]) as client:
        assert (await client.get("/api/v1/users/me")).status_code == 200
    assert "auth.sign_out_everywhere" in await audit_actions(db, tenant_a)
    assert (await sign_in(anon_a, user.email)).status_code == 200  # signing in again works


async def test_needs_a_signed_in_user(app, anon_a, db, tenant_a, owner_a):
    assert (await anon_a.post("/api/v1/auth/logout-all")).status_code == 401
    secret = await create_api_key(db, tenant_a, owner_a, ["items:read"])
    async with signed_in(app, tenant_a, secret) as client:
        response = await client.post("/api/v1/auth/logout-all")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "user_session_required"
