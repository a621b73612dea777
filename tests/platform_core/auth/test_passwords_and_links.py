"""Password change, forgot/reset, self-signup and email verification, with the links read from the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from platform_core.access.models import OneTimeToken
from platform_core.kernel.db.base import utcnow
from platform_core.tenant_settings.models import TenantSettings
from tests.conftest import signed_in
from tests.factories import PASSWORD, create_api_key, create_user
from tests.platform_core.auth.test_sign_in import audit_actions, sign_in
from tests.support.mail import link_tokens, only_link_token, queued_emails

NEW_PASSWORD = "a brand new passphrase"


async def allow_signup(db, tenant) -> None:
    """Turn on self-signup for a tenant (inside the test transaction)."""
    async with db.session(tenant.schema_name) as session:
        session.add(TenantSettings(id=1, allow_signup=True))
        await session.commit()


class TestChangePassword:
    async def test_change_signs_out_other_sessions_but_not_this_one(self, app, anon_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        here = (await sign_in(anon_a, user.email)).json()
        elsewhere = (await sign_in(anon_a, user.email)).json()
        async with signed_in(app, tenant_a, here["access_token"]) as client:
            body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
            assert (await client.post("/api/v1/users/me/password", json=body)).status_code == 204
            assert (await client.get("/api/v1/users/me")).status_code == 200
        async with signed_in(app, tenant_a, elsewhere["access_token"]) as other:
            assert (await other.get("/api/v1/users/me")).status_code == 401
        assert (
            await anon_a.post("/api/v1/auth/refresh", json={"refresh_token": elsewhere["refresh_token"]})
        ).status_code == 401
        assert (await sign_in(anon_a, user.email)).status_code == 401
        assert (await sign_in(anon_a, user.email, NEW_PASSWORD)).status_code == 200
        assert "auth.password_changed" in await audit_actions(db, tenant_a)

    @pytest.mark.parametrize(
        ("current", "new", "status", "code"),
        [
            ("wrong current password", NEW_PASSWORD, 403, "wrong_password"),
            (PASSWORD, "short", 422, "invalid_password"),
            (PASSWORD, "x" * 129, 422, "invalid_password"),
        ],
    )
    async def test_bad_change_is_refused_and_changes_nothing(
        self, client_a, anon_a, owner_a, current, new, status, code
    ):
        response = await client_a.post(
            "/api/v1/users/me/password", json={"current_password": current, "new_password": new}
        )
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
        assert (await sign_in(anon_a, owner_a.email)).status_code == 200

    async def test_api_keys_cannot_change_passwords(self, app, db, tenant_a, owner_a):
        secret = await create_api_key(db, tenant_a, owner_a, ["items:read"])
        async with signed_in(app, tenant_a, secret) as client:
            assert (await client.get("/api/v1/items")).status_code == 200
            response = await client.post(
                "/api/v1/users/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
            )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "user_session_required"


class TestChangePasswordGuesses:
    async def test_guessing_the_current_password_is_throttled(self, client_a):
        body = {"current_password": "a wrong guess!", "new_password": NEW_PASSWORD}
        codes = [(await client_a.post("/api/v1/users/me/password", json=body)).status_code for _ in range(6)]
        assert codes == [403] * 5 + [429]


class TestForgotAndReset:
    async def test_reset_link_sets_a_new_password_and_signs_out_everywhere(self, anon_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        session_before = (await sign_in(anon_a, user.email)).json()
        response = await anon_a.post("/api/v1/auth/forgot-password", json={"email": user.email.upper()})
        assert response.status_code == 202
        token = await only_link_token(db, "password_reset", "reset_url", user.email)
        reset = await anon_a.post(
            "/api/v1/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
        )
        assert reset.status_code == 204
        assert (await sign_in(anon_a, user.email, NEW_PASSWORD)).status_code == 200
        assert (
            await anon_a.post("/api/v1/auth/refresh", json={"refresh_token": session_before["refresh_token"]})
        ).status_code == 401
        again = await anon_a.post(
            "/api/v1/auth/reset-password", json={"token": token, "password": "yet another passphrase"}
        )
        assert again.status_code == 400
        assert again.json()["error"]["code"] == "invalid_link"

    async def test_unknown_email_gets_the_same_answer_and_no_email(self, anon_a, db, tenant_a):
        response = await anon_a.post(
            "/api/v1/auth/forgot-password", json={"email": "nobody@alpha.example.org"}
        )
        known = await create_user(db, tenant_a, role="member")
        known_response = await anon_a.post("/api/v1/auth/forgot-password", json={"email": known.email})
        assert response.status_code == known_response.status_code == 202
        assert response.json() == known_response.json()
        assert await queued_emails(db, "password_reset", "nobody@alpha.example.org") == []
        # Both did the same work: an audit entry each (so both commit), only the known one got a link.
        assert (await audit_actions(db, tenant_a)).count("auth.password_reset_requested") == 2

    @pytest.mark.parametrize("path", ["/api/v1/auth/forgot-password", "/api/v1/auth/resend-verification"])
    async def test_link_requests_from_one_address_are_limited_whoever_they_name(self, anon_a, app, path):
        limit = app.state.throttle.per_ip.amount
        for n in range(limit):
            assert (await anon_a.post(path, json={"email": f"n{n}@alpha.example.org"})).status_code == 202
        refused = await anon_a.post(path, json={"email": "one-more@alpha.example.org"})
        assert refused.status_code == 429
        assert "Retry-After" in refused.headers

    async def test_expired_link_is_refused_and_a_weak_password_keeps_the_link(self, anon_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        await anon_a.post("/api/v1/auth/forgot-password", json={"email": user.email})
        token = await only_link_token(db, "password_reset", "reset_url", user.email)
        weak = await anon_a.post("/api/v1/auth/reset-password", json={"token": token, "password": "short"})
        assert weak.status_code == 422
        async with db.session(tenant_a.schema_name) as session:
            await session.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(minutes=1)))
            await session.commit()
        expired = await anon_a.post(
            "/api/v1/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
        )
        assert expired.status_code == 400
        assert expired.json()["error"]["code"] == "expired_link"
        assert (await sign_in(anon_a, user.email)).status_code == 200

    async def test_a_new_reset_link_replaces_the_old_one(self, anon_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        await anon_a.post("/api/v1/auth/forgot-password", json={"email": user.email})
        first = await only_link_token(db, "password_reset", "reset_url", user.email)
        await anon_a.post("/api/v1/auth/forgot-password", json={"email": user.email})
        (second,) = await link_tokens(db, "password_reset", "reset_url", user.email) - {first}
        old = await anon_a.post(
            "/api/v1/auth/reset-password", json={"token": first, "password": NEW_PASSWORD}
        )
        assert old.status_code == 400
        assert (
            await anon_a.post("/api/v1/auth/reset-password", json={"token": second, "password": NEW_PASSWORD})
        ).status_code == 204

    async def test_reset_links_are_rate_limited_per_address(self, anon_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        for _ in range(7):
            assert (
                await anon_a.post("/api/v1/auth/forgot-password", json={"email": user.email})
            ).status_code == 202
        assert len(await queued_emails(db, "password_reset", user.email)) == 5

    async def test_reset_token_of_tenant_a_is_unknown_on_tenant_b(self, anon_a, anon_b, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        await anon_a.post("/api/v1/auth/forgot-password", json={"email": user.email})
        token = await only_link_token(db, "password_reset", "reset_url", user.email)
        response = await anon_b.post(
            "/api/v1/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
        )
        assert response.status_code == 400


class TestSignUpAndVerification:
    async def test_sign_up_is_closed_by_default(self, anon_a):
        response = await anon_a.post(
            "/api/v1/auth/signup", json={"email": "new@example.org", "password": NEW_PASSWORD}
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "signup_closed"

    async def test_sign_up_then_verify_then_sign_in(self, anon_a, db, tenant_a):
        await allow_signup(db, tenant_a)
        created = await anon_a.post(
            "/api/v1/auth/signup",
            json={"email": "New@Example.org", "password": NEW_PASSWORD, "full_name": "Newt"},
        )
        assert created.status_code == 202, created.text
        assert (await sign_in(anon_a, "new@example.org", NEW_PASSWORD)).json()["error"][
            "code"
        ] == "email_not_verified"
        token = await only_link_token(db, "verify_email", "verify_url", "new@example.org")
        verified = await anon_a.post("/api/v1/auth/verify-email", json={"token": token})
        assert verified.status_code == 200
        assert verified.json()["email_verified"] is True
        assert verified.json()["role"] == "member"
        assert (await sign_in(anon_a, "new@example.org", NEW_PASSWORD)).status_code == 200
        assert (await anon_a.post("/api/v1/auth/verify-email", json={"token": token})).status_code == 400
        actions = await audit_actions(db, tenant_a)
        assert {"auth.sign_up", "auth.email_verified"} <= set(actions)

    async def test_resend_verification_sends_a_new_link_only_to_unverified_accounts(
        self, anon_a, db, tenant_a
    ):
        await allow_signup(db, tenant_a)
        await anon_a.post("/api/v1/auth/signup", json={"email": "late@example.org", "password": NEW_PASSWORD})
        first = await only_link_token(db, "verify_email", "verify_url", "late@example.org")
        assert (
            await anon_a.post("/api/v1/auth/resend-verification", json={"email": "late@example.org"})
        ).status_code == 202
        (second,) = await link_tokens(db, "verify_email", "verify_url", "late@example.org") - {first}
        assert (await anon_a.post("/api/v1/auth/verify-email", json={"token": first})).status_code == 400
        assert (await anon_a.post("/api/v1/auth/verify-email", json={"token": second})).status_code == 200
        verified = await create_user(db, tenant_a, role="member")
        assert (
            await anon_a.post("/api/v1/auth/resend-verification", json={"email": verified.email})
        ).status_code == 202
        assert await queued_emails(db, "verify_email", verified.email) == []

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"email": "weak@example.org", "password": "short"}, "invalid_password"),
            ({"email": "not-an-email", "password": NEW_PASSWORD}, "validation_error"),
            ({"email": "x@example.org", "password": NEW_PASSWORD, "role": "owner"}, "validation_error"),
        ],
    )
    async def test_bad_sign_ups_are_422_and_create_nothing(self, anon_a, db, tenant_a, body, code):
        await allow_signup(db, tenant_a)
        response = await anon_a.post("/api/v1/auth/signup", json=body)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == code
        assert await queued_emails(db, "verify_email") == []

    async def test_an_existing_email_gets_the_same_answer_and_nothing_changes(
        self, anon_a, db, tenant_a, owner_a
    ):
        await allow_signup(db, tenant_a)
        fresh = await anon_a.post(
            "/api/v1/auth/signup", json={"email": "fresh@example.org", "password": NEW_PASSWORD}
        )
        taken = await anon_a.post(
            "/api/v1/auth/signup", json={"email": owner_a.email, "password": NEW_PASSWORD}
        )
        assert taken.status_code == fresh.status_code == 202
        assert taken.json() == fresh.json()
        assert await queued_emails(db, "verify_email", owner_a.email) == []
        assert (await sign_in(anon_a, owner_a.email)).status_code == 200  # the password is unchanged

    async def test_an_expired_verification_link_is_refused(self, anon_a, db, tenant_a):
        await allow_signup(db, tenant_a)
        await anon_a.post("/api/v1/auth/signup", json={"email": "slow@example.org", "password": NEW_PASSWORD})
        token = await only_link_token(db, "verify_email", "verify_url", "slow@example.org")
        async with db.session(tenant_a.schema_name) as session:
            await session.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(minutes=1)))
            await session.commit()
        response = await anon_a.post("/api/v1/auth/verify-email", json={"token": token})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "expired_link"

    async def test_sign_up_on_tenant_b_follows_tenant_b_settings(self, anon_b, db, tenant_a):
        await allow_signup(db, tenant_a)
        response = await anon_b.post(
            "/api/v1/auth/signup", json={"email": "b@example.org", "password": NEW_PASSWORD}
        )
        assert response.status_code == 403
