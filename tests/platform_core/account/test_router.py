"""The caller's own account: profile changes (the password change is tested with sign-in, in auth)."""

from __future__ import annotations

from tests.platform_core.auth.test_passwords_and_links import NEW_PASSWORD, allow_signup
from tests.platform_core.auth.test_sign_in import audit_actions


class TestProfile:
    async def test_a_nul_character_is_422_not_500(self, client_a, anon_a, db, tenant_a):
        response = await client_a.patch("/api/v1/users/me", json={"full_name": "Ada\u0000Lovelace"})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_value"
        await allow_signup(db, tenant_a)
        signup = await anon_a.post(
            "/api/v1/auth/signup",
            json={"email": "nul@example.org", "password": NEW_PASSWORD, "full_name": "a\u0000b"},
        )
        assert signup.status_code == 422

    async def test_update_own_name(self, client_a, db, tenant_a):
        response = await client_a.patch("/api/v1/users/me", json={"full_name": "  Grace Hopper "})
        assert response.status_code == 200
        assert response.json()["full_name"] == "Grace Hopper"
        assert "user.profile_updated" in await audit_actions(db, tenant_a)
        bad = await client_a.patch("/api/v1/users/me", json={"email": "elsewhere@example.org"})
        assert bad.status_code == 422
