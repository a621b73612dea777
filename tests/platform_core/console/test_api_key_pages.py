"""The API keys page over HTTP: the list, creating a key whose secret is shown once (on the POST's own
answer, never stored nor redirected with) and works against the API, revoking it, the plan's and the
permissions' gates, and bad input as field errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from platform_core.access.models import ApiKey
from tests.conftest import client_for, host_of, signed_in
from tests.factories import create_api_key, create_user
from tests.platform_core.auth.test_sign_in import audit_actions
from tests.platform_core.console.support import console_sign_in, csrf_of, nonce_of

SECRET = re.compile(r'<code id="new-key-secret" data-secret>([^<]+)</code>')


@pytest.fixture
async def browser_a(app: Any, tenant_a: Any) -> Any:
    """A cookie-keeping client on tenant alpha's host (the pro plan: API keys included)."""
    async with client_for(app, host_of(tenant_a)) as client:
        yield client


async def signed_in_as(client: Any, db: Any, tenant: Any, role: str) -> Any:
    """A new user of `role`, signed in to the console with `client`."""
    user = await create_user(db, tenant, role=role)
    assert (await console_sign_in(client, user.email)).status_code == 303
    return user


async def create_key(client: Any, **fields: Any) -> Any:
    """Send the new-key form as a browser would."""
    html = (await client.get("/api-keys")).text
    data = {"csrf_token": csrf_of(html), "form_nonce": nonce_of(html), **fields}
    return await client.post("/api-keys", data=data)


async def keys_of(db: Any, tenant: Any) -> list[ApiKey]:
    """The tenant's API keys."""
    async with db.session(tenant.schema_name) as session:
        return list((await session.execute(select(ApiKey))).scalars())


class TestApiKeysPage:
    async def test_create_show_the_secret_once_use_it_and_revoke_it(self, app, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        created = await create_key(browser_a, name="nightly export", scopes=["items:read"])
        assert created.status_code == 201
        assert created.headers["cache-control"] == "no-store"
        secret = SECRET.search(created.text).group(1)
        assert secret.startswith("pk_")
        assert "Copy your new key now" in created.text
        [key] = await keys_of(db, tenant_a)
        assert (key.name, key.scopes, key.expires_at) == ("nightly export", ["items:read"], None)
        assert secret not in key.secret_hash
        assert "api_key.created" in await audit_actions(db, tenant_a)

        listing = await browser_a.get("/api-keys")
        assert secret not in listing.text  # never shown again
        assert key.prefix in listing.text

        async with signed_in(app, tenant_a, secret) as by_key:
            assert (await by_key.get("/api/v1/items")).status_code == 200
            assert (await by_key.post("/api/v1/items", json={"title": "x"})).status_code == 403
            token = csrf_of(listing.text)
            revoked = await browser_a.post(f"/api-keys/{key.id}/revoke", data={"csrf_token": token})
            assert revoked.status_code == 303
            assert "is revoked" in (await browser_a.get("/api-keys")).text
            refused = await by_key.get("/api/v1/items")
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_api_key"
        assert "api_key.revoked" in await audit_actions(db, tenant_a)

    async def test_a_resubmitted_form_creates_nothing_and_shows_no_secret(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        html = (await browser_a.get("/api-keys")).text
        data = {
            "csrf_token": csrf_of(html),
            "form_nonce": nonce_of(html),
            "name": "ci",
            "scopes": ["items:read"],
        }
        assert (await browser_a.post("/api-keys", data=data)).status_code == 201
        again = await browser_a.post("/api-keys", data=data)
        assert again.status_code == 303
        assert "location" in again.headers
        assert "pk_" not in again.headers["location"]
        assert "already sent" in (await browser_a.get("/api-keys")).text
        assert len(await keys_of(db, tenant_a)) == 1

    async def test_an_expiry_date(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        day = (datetime.now(UTC) + timedelta(days=30)).date()
        created = await create_key(browser_a, name="temp", scopes=["items:read"], expires_on=day.isoformat())
        assert created.status_code == 201
        [key] = await keys_of(db, tenant_a)
        assert key.expires_at == datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)

    @pytest.mark.parametrize(
        ("fields", "status", "field", "message"),
        [
            ({"name": "", "scopes": ["items:read"]}, 422, "name", "at least 1 character"),
            ({"name": "k"}, 422, "scopes", "Choose at least one permission"),
            (
                {"name": "k", "scopes": ["items:read"], "expires_on": "soon"},
                422,
                "expires_on",
                "Enter a date",
            ),
            (
                {"name": "k", "scopes": ["items:read"], "expires_on": "2001-01-01"},
                422,
                "expires_on",
                "future",
            ),
            (
                {"name": "k", "scopes": ["items:read"], "expires_on": "2999-01-01"},
                422,
                "expires_on",
                "two years",
            ),
            ({"name": "k", "scopes": ["nothing:here"]}, 422, "scopes", "Unknown permission"),
            ({"name": "k", "scopes": ["billing:manage"]}, 403, "scopes", "You cannot grant permissions"),
        ],
    )
    async def test_bad_input_is_a_field_error(self, browser_a, db, tenant_a, fields, status, field, message):
        await signed_in_as(browser_a, db, tenant_a, "admin")
        response = await create_key(browser_a, **fields)
        assert response.status_code == status
        assert f'id="e-{field}"' in response.text
        assert message in response.text
        assert "data-secret" not in response.text
        assert await keys_of(db, tenant_a) == []

    async def test_without_the_permission_the_page_is_403(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "member")
        assert 'href="/api-keys"' not in (await browser_a.get("/")).text
        page = await browser_a.get("/api-keys")
        assert page.status_code == 403
        assert "api_keys:manage" in page.text
        token = csrf_of((await browser_a.get("/")).text)
        refused = await browser_a.post(
            "/api-keys", data={"csrf_token": token, "name": "x", "scopes": "items:read"}
        )
        assert refused.status_code == 403
        assert await keys_of(db, tenant_a) == []

    async def test_a_plan_without_api_keys_says_so(self, app, db, tenant_b):
        async with client_for(app, host_of(tenant_b)) as browser:
            await signed_in_as(browser, db, tenant_b, "owner")
            page = await browser.get("/api-keys")
            assert page.status_code == 200
            assert "does not include api keys" in page.text
            assert 'action="/api-keys"' not in page.text
            token = csrf_of(page.text)
            refused = await browser.post(
                "/api-keys", data={"csrf_token": token, "name": "x", "scopes": "items:read"}
            )
            assert refused.status_code == 403
            assert "does not include api keys" in refused.text
        assert await keys_of(db, tenant_b) == []

    async def test_another_tenants_key_is_404(self, browser_a, db, tenant_a, tenant_b):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        owner_b = await create_user(db, tenant_b, role="owner")
        await create_api_key(db, tenant_b, owner_b, ["items:read"])
        [theirs] = await keys_of(db, tenant_b)
        token = csrf_of((await browser_a.get("/api-keys")).text)
        response = await browser_a.post(f"/api-keys/{theirs.id}/revoke", data={"csrf_token": token})
        assert response.status_code == 404
        [still] = await keys_of(db, tenant_b)
        assert still.revoked_at is None
