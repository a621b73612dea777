"""Sign-in, tokens, refresh rotation and sign-out over HTTP, against the real database and Redis."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from platform_core.access.cache import PRINCIPALS
from platform_core.access.models import RefreshToken, User
from platform_core.app.main import create_app
from platform_core.audit.models import AuditEvent
from platform_core.kernel.security.tokens import SigningKeys, issue_access_token, tenant_audience
from tests.conftest import client_for, forget_throttles, host_of, make_settings, signed_in
from tests.factories import PASSWORD, access_token, create_user
from tests.support.hashing import hashing_threads


async def sign_in(client, email: str, password: str = PASSWORD, *, form: bool = False):
    """POST /api/v1/auth/token as JSON or as the OAuth2 form."""
    if form:
        return await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    return await client.post("/api/v1/auth/token", json={"email": email, "password": password})


async def audit_actions(db, tenant) -> list[str]:
    """The actions recorded in a tenant's audit log."""
    async with db.session(tenant.schema_name) as session:
        return list((await session.execute(select(AuditEvent.action))).scalars())


class TestSignIn:
    @pytest.mark.parametrize("form", [False, True], ids=["json", "oauth2-form"])
    async def test_valid_credentials_give_a_working_token_pair(self, anon_a, db, tenant_a, form):
        user = await create_user(db, tenant_a, role="member", email="ada@alpha.example.org")
        response = await sign_in(anon_a, "Ada@Alpha.example.org", form=form)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 900
        assert body["refresh_token"]
        me = await anon_a.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200
        assert me.json()["email"] == user.email
        assert me.json()["role"] == "member"
        assert "items:write" in me.json()["permissions"]
        assert "audit:read" not in me.json()["permissions"]
        assert "auth.sign_in" in await audit_actions(db, tenant_a)

    async def test_access_token_carries_user_tenant_audience_and_key_id(self, anon_a, db, tenant_a, settings):
        user = await create_user(db, tenant_a, role="viewer")
        token = (await sign_in(anon_a, user.email)).json()["access_token"]
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert header["alg"] == "HS256"
        assert header["kid"] == SigningKeys.parse(settings.signing_keys_spec).current
        assert claims["sub"] == str(user.id)
        assert claims["tid"] == str(tenant_a.id)
        assert claims["aud"] == tenant_audience(tenant_a.id)
        assert claims["exp"] - claims["iat"] == 900

    async def test_wrong_password_and_unknown_email_get_the_same_answer(self, anon_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        wrong = await sign_in(anon_a, user.email, "not the password at all")
        unknown = await sign_in(anon_a, "nobody@alpha.example.org")
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()
        assert wrong.json()["error"]["code"] == "invalid_credentials"
        assert (await audit_actions(db, tenant_a)).count("auth.sign_in_failed") == 2

    async def test_the_same_email_in_another_tenant_is_another_account(
        self, anon_a, anon_b, db, tenant_a, tenant_b
    ):
        await create_user(db, tenant_a, role="member", email="same@example.org")
        assert (await sign_in(anon_b, "same@example.org")).status_code == 401
        assert (await sign_in(anon_a, "same@example.org")).status_code == 200

    async def test_unverified_or_inactive_accounts_cannot_sign_in(self, anon_a, db, tenant_a):
        unverified = await create_user(db, tenant_a, role="member", email_verified_at=None)
        inactive = await create_user(db, tenant_a, role="member", is_active=False)
        response = await sign_in(anon_a, unverified.email)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "email_not_verified"
        assert (await sign_in(anon_a, inactive.email)).json()["error"]["code"] == "invalid_credentials"
        assert (await audit_actions(db, tenant_a)).count("auth.sign_in_failed") == 2

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            ('{"email": "not-an-email", "password": "x"}', "application/json"),
            ('{"email": "a@example.org"}', "application/json"),
            ("{not json", "application/json"),
            ("username=a%40example.org", "application/x-www-form-urlencoded"),
            (
                "grant_type=client_credentials&username=a%40example.org&password=x",
                "application/x-www-form-urlencoded",
            ),
        ],
    )
    async def test_malformed_requests_are_422(self, anon_a, body, content_type):
        response = await anon_a.post(
            "/api/v1/auth/token", content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] in ("validation_error", "invalid_json")


class TestHashingOffTheEventLoop:
    async def test_another_request_is_answered_while_a_password_is_checked(
        self, anon_a, db, tenant_a, monkeypatch
    ):
        user = await create_user(db, tenant_a, role="member")
        checking, release = threading.Event(), threading.Event()
        released_in_time: list[bool] = []
        real_verify = PasswordHasher.verify

        def held_verify(self: PasswordHasher, *args: Any, **kwargs: Any) -> Any:
            checking.set()
            # Run on the event loop, this wait would hold every request of the process until it
            # timed out; run in a thread, the test's next request is answered and releases it.
            released_in_time.append(release.wait(timeout=5))
            return real_verify(self, *args, **kwargs)

        monkeypatch.setattr(PasswordHasher, "verify", held_verify)
        signing_in = asyncio.create_task(sign_in(anon_a, user.email))
        assert await asyncio.to_thread(checking.wait, 10)
        assert (await anon_a.get("/healthz")).status_code == 200
        release.set()
        assert (await signing_in).status_code == 200
        assert released_in_time == [True]

    async def test_sign_in_and_password_change_hash_in_other_threads(
        self, app, anon_a, db, tenant_a, monkeypatch
    ):
        user = await create_user(db, tenant_a, role="member")
        threads = hashing_threads(monkeypatch)
        pair = (await sign_in(anon_a, user.email)).json()
        assert (await sign_in(anon_a, "nobody@alpha.example.org")).status_code == 401  # the dummy hash
        async with signed_in(app, tenant_a, pair["access_token"]) as client:
            body = {"current_password": PASSWORD, "new_password": "another passphrase"}
            assert (await client.post("/api/v1/users/me/password", json=body)).status_code == 204
        assert len(threads) >= 4
        assert threading.get_ident() not in threads  # the thread running the event loop and the app


class TestThrottling:
    @pytest.fixture
    async def strict_app(self, settings, db):
        strict = make_settings(
            settings.database_url,
            settings.redis_url,
            login_limit_per_account="3/minute",
            login_limit_per_ip="6/minute",
        )
        application = create_app(strict, db=db, access_log=False)
        await forget_throttles(application)
        yield application
        await forget_throttles(application)
        await application.state.redis.aclose()

    async def test_failed_attempts_lock_the_account_with_retry_after(self, strict_app, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        async with client_for(strict_app, host_of(tenant_a)) as client:
            for _ in range(3):
                assert (await sign_in(client, user.email, "wrong password!!")).status_code == 401
            locked = await sign_in(client, user.email)  # even the right password waits now
            assert locked.status_code == 429
            assert locked.json()["error"]["code"] == "too_many_attempts"
            assert 1 <= int(locked.headers["retry-after"]) <= 60
            other = await create_user(db, tenant_a, role="member")
            assert (await sign_in(client, other.email)).status_code == 200

    async def test_unknown_accounts_are_throttled_like_real_ones(self, strict_app, tenant_a):
        async with client_for(strict_app, host_of(tenant_a)) as client:
            answers = [(await sign_in(client, "ghost@alpha.example.org")).status_code for _ in range(4)]
        assert answers == [401, 401, 401, 429]

    async def test_attempts_per_ip_are_limited_across_accounts(self, strict_app, db, tenant_a):
        async with client_for(strict_app, host_of(tenant_a)) as client:
            codes = [(await sign_in(client, f"u{n}@alpha.example.org")).status_code for n in range(7)]
        assert codes[:6] == [401] * 6
        assert codes[6] == 429

    async def test_counts_are_shared_by_every_api_process(self, strict_app, settings, db, tenant_a):
        """Two app instances (two API processes) count against the same Redis counters."""
        other_process = create_app(strict_app.state.settings, db=db, access_log=False)
        try:
            async with (
                client_for(strict_app, host_of(tenant_a)) as one,
                client_for(other_process, host_of(tenant_a)) as two,
            ):
                for client in (one, two, one):
                    assert (
                        await sign_in(client, "shared@alpha.example.org", "wrong password!!")
                    ).status_code == 401
                assert (await sign_in(two, "shared@alpha.example.org")).status_code == 429
        finally:
            await other_process.state.redis.aclose()


class TestAccessTokens:
    async def _me(self, client, token: str):
        return await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})

    async def test_token_of_tenant_a_is_rejected_on_tenant_b(self, anon_b, settings, tenant_a, owner_a):
        response = await self._me(anon_b, access_token(settings, tenant_a, owner_a.id))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_forged_expired_none_and_wrong_audience_tokens_are_401(
        self, anon_a, settings, tenant_a, owner_a
    ):
        keys = SigningKeys.parse(settings.signing_keys_spec)
        claims = {"tid": str(tenant_a.id), "sid": str(uuid.uuid4())}
        audience = tenant_audience(tenant_a.id)
        forged = issue_access_token(
            SigningKeys.parse(f"{keys.current}:{'x' * 40}"),
            subject=str(owner_a.id),
            audience=audience,
            **claims,
        )
        expired = issue_access_token(
            keys, subject=str(owner_a.id), audience=audience, now=time.time() - 3600, **claims
        )
        none_alg = jwt.encode(
            {
                "sub": str(owner_a.id),
                "aud": audience,
                "iss": "platform",
                "iat": int(time.time()),
                "exp": int(time.time()) + 600,
                "jti": "x",
                **claims,
            },
            key=None,
            algorithm="none",
            headers={"kid": keys.current},
        )
        wrong_audience = issue_access_token(
            keys, subject=str(owner_a.id), audience="platform:operator", **claims
        )
        unknown_kid = issue_access_token(
            SigningKeys.parse(f"other:{'y' * 40}"), subject=str(owner_a.id), audience=audience, **claims
        )
        for token in (forged, expired, none_alg, wrong_audience, unknown_kid, "not.a.jwt", "garbage"):
            response = await self._me(anon_a, token)
            assert response.status_code == 401, token
            assert response.json()["error"]["code"] == "invalid_token"

    async def test_rotated_out_key_still_verifies_until_removed(
        self, app, anon_a, settings, tenant_a, owner_a
    ):
        old = SigningKeys.parse(f"old:{'o' * 40}")
        token = issue_access_token(
            old,
            subject=str(owner_a.id),
            audience=tenant_audience(tenant_a.id),
            tid=str(tenant_a.id),
            sid=str(uuid.uuid4()),
        )
        assert (await self._me(anon_a, token)).status_code == 401
        app.state.signing_keys = SigningKeys.parse(f"new:{'n' * 40},old:{'o' * 40}")
        assert (await self._me(anon_a, token)).status_code == 200

    async def test_missing_or_malformed_authorization_is_401(self, anon_a):
        missing = await anon_a.get("/api/v1/users/me")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "not_authenticated"
        basic = await anon_a.get("/api/v1/users/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 401

    async def test_removed_or_deactivated_user_is_refused_at_once(self, anon_a, db, settings, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        token = access_token(settings, tenant_a, user.id)
        assert (await self._me(anon_a, token)).status_code == 200
        async with db.session(tenant_a.schema_name) as session:
            await session.execute(update(User).where(User.id == user.id).values(is_active=False))
            await session.commit()
        # A change made by hand in the database reaches API processes by NOTIFY (test_principal_cache).
        PRINCIPALS.invalidate_tenant(tenant_a.id)
        assert (await self._me(anon_a, token)).status_code == 401


class TestRefreshAndSignOut:
    async def test_refresh_rotates_and_reuse_revokes_the_family(self, anon_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        first = (await sign_in(anon_a, user.email)).json()
        second = await anon_a.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200
        second_body = second.json()
        assert second_body["refresh_token"] != first["refresh_token"]
        assert (
            await anon_a.get(
                "/api/v1/users/me", headers={"Authorization": f"Bearer {second_body['access_token']}"}
            )
        ).status_code == 200

        reused = await anon_a.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert reused.status_code == 401
        assert reused.json()["error"]["code"] == "refresh_token_reused"
        # The whole family is gone: the newest refresh token and the access tokens of the session.
        latest = await anon_a.post(
            "/api/v1/auth/refresh", json={"refresh_token": second_body["refresh_token"]}
        )
        assert latest.status_code == 401
        me = await anon_a.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {second_body['access_token']}"}
        )
        assert me.status_code == 401
        assert "auth.refresh_token_reused" in await audit_actions(db, tenant_a)

    async def test_unknown_or_expired_refresh_tokens_are_401(self, anon_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        pair = (await sign_in(anon_a, user.email)).json()
        async with db.session(tenant_a.schema_name) as session:
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.user_id == user.id)
                .values(expires_at=RefreshToken.created_at)
            )
            await session.commit()
        for token in (pair["refresh_token"], "unknown-token"):
            response = await anon_a.post("/api/v1/auth/refresh", json={"refresh_token": token})
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_refresh_token"

    async def test_refresh_token_of_tenant_a_does_nothing_on_tenant_b(self, anon_a, anon_b, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        pair = (await sign_in(anon_a, user.email)).json()
        assert (
            await anon_b.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        ).status_code == 401
        assert (
            await anon_a.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        ).status_code == 200

    async def test_sign_out_ends_that_session_only(self, app, anon_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        laptop = (await sign_in(anon_a, user.email)).json()
        phone = (await sign_in(anon_a, user.email)).json()
        async with signed_in(app, tenant_a, laptop["access_token"]) as client:
            assert (await client.post("/api/v1/auth/logout")).status_code == 204
            assert (await client.get("/api/v1/users/me")).status_code == 401
        assert (
            await anon_a.post("/api/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
        ).status_code == 401
        assert (
            await anon_a.post("/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
        ).status_code == 200
        assert "auth.sign_out" in await audit_actions(db, tenant_a)
