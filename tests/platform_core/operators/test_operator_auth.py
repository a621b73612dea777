"""Operator sign-in, operator tokens, and the operator host: the API exists on admin.<base> only."""

from __future__ import annotations

import threading
import time
import uuid

import jwt
import pytest
from sqlalchemy import select

from platform_core.kernel.security.tokens import SigningKeys, decode_access_token, issue_access_token
from platform_core.operators.models import Operator
from platform_core.operators.service import OPERATOR_AUDIENCE
from tests.conftest import BASE_DOMAIN, client_for, host_of
from tests.factories import access_token
from tests.platform_core.operators.conftest import (
    OPERATOR_HOST,
    OPERATOR_PASSWORD,
    bearer,
    create_operator,
    operator_token,
)
from tests.support.hashing import hashing_threads

TOKEN_URL = "/api/v1/operator/auth/token"


def _sign_in(client, email, password=OPERATOR_PASSWORD):
    return client.post(TOKEN_URL, json={"email": email, "password": password})


class TestSignIn:
    async def test_json_sign_in_issues_an_operator_token(self, admin_anon, db, settings, operator):
        response = await _sign_in(admin_anon, operator.email)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in"}  # no refresh token for operators
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == settings.operator_token_ttl_seconds
        keys = SigningKeys.parse(settings.signing_keys_spec)
        claims = decode_access_token(keys, body["access_token"], audience=OPERATOR_AUDIENCE)
        assert claims.subject == str(operator.id)
        assert claims.expires_at - claims.issued_at == settings.operator_token_ttl_seconds
        async with db.session(None) as session:
            last_login = await session.scalar(
                select(Operator.last_login_at).where(Operator.id == operator.id)
            )
        assert last_login is not None
        me = await admin_anon.get("/api/v1/operator/me", headers=bearer(body["access_token"]))
        assert me.status_code == 200
        assert me.json()["email"] == operator.email

    async def test_oauth2_form_and_any_email_case(self, admin_anon, operator):
        response = await admin_anon.post(
            TOKEN_URL,
            data={
                "grant_type": "password",
                "username": operator.email.upper(),
                "password": OPERATOR_PASSWORD,
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["access_token"]

    async def test_wrong_password_unknown_email_and_inactive_get_the_same_401(self, admin_anon, db, operator):
        inactive = await create_operator(db, is_active=False)
        answers = [
            await _sign_in(admin_anon, operator.email, "not the password at all"),
            await _sign_in(admin_anon, f"nobody-{uuid.uuid4().hex[:8]}@ops.example.org"),
            await _sign_in(admin_anon, inactive.email),
        ]
        assert [r.status_code for r in answers] == [401, 401, 401]
        assert answers[0].json() == answers[1].json() == answers[2].json()
        assert answers[0].json()["error"]["code"] == "invalid_credentials"
        assert "access_token" not in answers[2].text

    async def test_repeated_failures_are_throttled(self, admin_anon, operator):
        for _ in range(5):
            assert (await _sign_in(admin_anon, operator.email, "wrong password!")).status_code == 401
        throttled = await _sign_in(admin_anon, operator.email)
        assert throttled.status_code == 429
        assert throttled.json()["error"]["code"] == "too_many_attempts"
        assert int(throttled.headers["Retry-After"]) >= 1

    @pytest.mark.parametrize(
        ("kwargs", "code"),
        [
            ({"json": {"email": "ops@example.org"}}, "validation_error"),
            ({"json": {"email": "not an email", "password": "x" * 12}}, "validation_error"),
            ({"json": {"email": "ops@example.org", "password": ""}}, "validation_error"),
            ({"json": {"email": "ops@example.org", "password": "x" * 12, "extra": 1}}, "validation_error"),
            ({"json": ["ops@example.org"]}, "validation_error"),
            ({"content": b"{not json", "headers": {"content-type": "application/json"}}, "invalid_json"),
            ({"content": b""}, "invalid_json"),
            ({"data": {"username": "ops@example.org"}}, "validation_error"),
            (
                {"data": {"grant_type": "client_credentials", "username": "a@b.org", "password": "x"}},
                "validation_error",
            ),
            (
                {"files": {"password": ("p.txt", b"secret")}, "data": {"username": "a@b.org"}},
                "validation_error",
            ),
        ],
    )
    async def test_bad_bodies_are_422_in_the_error_format(self, admin_anon, kwargs, code):
        response = await admin_anon.post(TOKEN_URL, **kwargs)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code


class TestOperatorTokens:
    async def test_no_token(self, admin_anon):
        response = await admin_anon.get("/api/v1/operator/tenants")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response.headers["WWW-Authenticate"] == "Bearer"

    @pytest.mark.parametrize("header", ["Basic abc", "Bearer ", "Bearer not-a-jwt", "Bearer a.b.c"])
    async def test_malformed_credentials(self, admin_anon, header):
        response = await admin_anon.get("/api/v1/operator/tenants", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"

    async def test_expired_token(self, admin_anon, settings, operator):
        token = operator_token(settings, operator.id, ttl_seconds=60, now=time.time() - 3600)
        response = await admin_anon.get("/api/v1/operator/me", headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"

    async def test_forged_token(self, admin_anon, settings, operator):
        kid = SigningKeys.parse(settings.signing_keys_spec).current
        forged_keys = SigningKeys.parse(f"{kid}:{'f' * 40}")
        forged = issue_access_token(forged_keys, subject=str(operator.id), audience=OPERATOR_AUDIENCE)
        unsigned = jwt.encode(
            {"sub": str(operator.id), "aud": OPERATOR_AUDIENCE, "iss": "platform", "iat": 1, "exp": 2**40},
            key="",
            algorithm="none",
        )
        for token in (forged, unsigned):
            response = await admin_anon.get("/api/v1/operator/me", headers=bearer(token))
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_token"

    async def test_token_of_an_unknown_or_deactivated_operator(self, admin_anon, db, settings):
        inactive = await create_operator(db, is_active=False)
        for subject in (uuid.uuid4(), inactive.id, "not-a-uuid"):
            response = await admin_anon.get(
                "/api/v1/operator/me", headers=bearer(operator_token(settings, subject))
            )
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_token"

    async def test_tenant_user_token_is_refused_on_the_operator_api(
        self, admin_anon, settings, tenant_a, owner_a
    ):
        token = access_token(settings, tenant_a, owner_a.id)
        response = await admin_anon.get("/api/v1/operator/tenants", headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"

    async def test_operator_token_is_refused_on_a_tenant_host(
        self, app, settings, tenant_a, operator, client_a
    ):
        assert (await client_a.get("/api/v1/items")).status_code == 200  # the host serves tenant routes
        async with client_for(app, host_of(tenant_a)) as client:
            response = await client.get(
                "/api/v1/items", headers=bearer(operator_token(settings, operator.id))
            )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"


OPERATOR_ROUTES = [
    ("POST", "/api/v1/operator/auth/token"),
    ("GET", "/api/v1/operator/me"),
    ("GET", "/api/v1/operator/tenants"),
    ("GET", "/api/v1/operator/tenants/alpha"),
    ("POST", "/api/v1/operator/tenants/alpha/suspend"),
    ("POST", "/api/v1/operator/tenants/alpha/resume"),
    ("POST", "/api/v1/operator/tenants/alpha/owners"),
    ("GET", "/api/v1/operator/tenants/alpha/members"),
    ("GET", "/api/v1/operator/tenants/alpha/billing"),
    ("DELETE", "/api/v1/operator/tenants/alpha"),
    ("POST", "/api/v1/operator/tenants/alpha/restore"),
    ("GET", "/api/v1/operator/fleet"),
    ("GET", "/api/v1/operator/stripe-events"),
    ("POST", "/api/v1/operator/stripe-events/replay"),
    ("GET", "/api/v1/operator/actions"),
    ("POST", "/api/v1/operator/tenants/alpha/exports"),
    ("GET", "/api/v1/operator/tenants/alpha/exports"),
    ("GET", "/api/v1/operator/tenants/alpha/exports/{export_id}"),
]


class TestOperatorHostOnly:
    def test_every_operator_route_is_listed_here(self, app):
        served = {
            (method, route.path.replace("{slug}", "alpha"))
            for route in app.routes
            if getattr(route, "path", "").startswith("/api/v1/operator")
            for method in route.methods
        }
        assert served == set(OPERATOR_ROUTES)

    @pytest.mark.parametrize("host", ["alpha", "", "www", "nowhere-at-all"])
    @pytest.mark.parametrize(("method", "path"), OPERATOR_ROUTES)
    async def test_404_on_every_other_host(self, app, settings, operator, tenant_a, host, method, path):
        name = f"{host}.{BASE_DOMAIN}" if host else BASE_DOMAIN
        async with client_for(app, name) as client:
            # Even with valid operator credentials, and even with a malformed body.
            response = await client.request(
                method,
                path,
                content=b"{not json",
                headers={**bearer(operator_token(settings, operator.id)), "content-type": "application/json"},
            )
        assert response.status_code == 404, response.text
        assert set(response.json()["error"]) == {"code", "message", "details"}

    async def test_the_operator_host_can_be_renamed(self, settings, db, tenant_a, tenant_b):
        from platform_core.app.main import create_app

        renamed = settings.model_copy(update={"operator_host": "console"})
        application = create_app(renamed, db=db, access_log=False)
        try:
            async with client_for(application, f"console.{BASE_DOMAIN}") as client:
                assert (await client.get("/api/v1/operator/me")).status_code == 401
            async with client_for(application, OPERATOR_HOST) as client:
                assert (await client.get("/api/v1/operator/me")).status_code == 404
        finally:
            await application.state.redis.aclose()


async def test_operator_sign_in_checks_the_password_in_another_thread(admin_anon, operator, monkeypatch):
    threads = hashing_threads(monkeypatch)
    assert (await _sign_in(admin_anon, operator.email)).status_code == 200
    assert (await _sign_in(admin_anon, "nobody@example.org")).status_code == 401
    assert len(threads) >= 2
    assert threading.get_ident() not in threads  # the thread running the event loop and the app
