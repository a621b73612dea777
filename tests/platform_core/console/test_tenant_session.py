"""The tenant console's browser session over HTTP: cookie flags, sign-in and out, CSRF, redirects."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import client_for, host_of
from tests.factories import PASSWORD
from tests.platform_core.console.support import console_sign_in, csrf_of, post_form


@pytest.fixture
async def browser_a(app: Any, tenant_a: Any) -> Any:
    """A cookie-keeping client on tenant alpha's host, not signed in."""
    async with client_for(app, host_of(tenant_a)) as client:
        yield client


async def test_visitor_is_sent_to_sign_in_and_back(browser_a, owner_a):
    home = await browser_a.get("/?tab=x")
    assert home.status_code == 303
    assert home.headers["location"] == "/sign-in?next=/%3Ftab%3Dx"
    page = await browser_a.get(home.headers["location"])
    assert page.status_code == 200
    assert 'name="next" value="/?tab=x"' in page.text
    data = {"csrf_token": csrf_of(page.text), "email": owner_a.email, "password": PASSWORD, "next": "/?tab=x"}
    signed = await browser_a.post("/sign-in", data=data)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/?tab=x"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
async def test_sign_in_never_sends_the_user_to_another_site(browser_a, owner_a, target):
    page = await browser_a.get("/sign-in")
    data = {"csrf_token": csrf_of(page.text), "email": owner_a.email, "password": PASSWORD, "next": target}
    signed = await browser_a.post("/sign-in", data=data)
    assert signed.headers["location"] == "/"


async def test_sign_in_sets_a_host_only_http_only_lax_cookie(browser_a, owner_a, tenant_a):
    response = await console_sign_in(browser_a, owner_a.email)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("session=")
    )
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert not any(flag.startswith("domain=") for flag in flags)  # host-only: never sent to another tenant
    home = await browser_a.get("/")
    assert home.status_code == 200
    assert tenant_a.name in home.text
    assert owner_a.email in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]


async def test_wrong_password_rerenders_the_form_with_the_email_kept(browser_a, owner_a):
    response = await console_sign_in(browser_a, owner_a.email, password="not the password at all")
    assert response.status_code == 401
    assert f'value="{owner_a.email}"' in response.text
    assert "The email or password is incorrect." in response.text
    assert "session=" not in response.headers.get("set-cookie", "")


async def test_invalid_email_gets_a_message_next_to_the_field(browser_a):
    response = await post_form(browser_a, "/sign-in", "/sign-in", {"email": "not-an-email", "password": "x"})
    assert response.status_code == 422
    assert 'id="e-email"' in response.text


async def test_a_post_without_the_csrf_token_is_refused(browser_a, owner_a):
    await browser_a.get("/sign-in")
    response = await browser_a.post(
        "/sign-in", data={"email": owner_a.email, "password": "whatever-password"}
    )
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    assert response.headers["content-type"].startswith("text/html")


async def test_the_cookie_of_tenant_a_is_worthless_on_tenant_b(app, browser_a, owner_a, tenant_b):
    await console_sign_in(browser_a, owner_a.email)
    session = browser_a.cookies.get("session")
    async with client_for(app, host_of(tenant_b)) as other:
        other.cookies.set("session", session, domain=host_of(tenant_b))
        response = await other.get("/")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")


async def test_the_session_cookie_is_not_an_api_token(browser_a, owner_a):
    await console_sign_in(browser_a, owner_a.email)
    token = browser_a.cookies.get("session")
    response = await browser_a.get("/api/v1/items", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_sign_out_revokes_the_session_itself(app, browser_a, owner_a, tenant_a):
    await console_sign_in(browser_a, owner_a.email)
    stolen = browser_a.cookies.get("session")
    out = await post_form(browser_a, "/", "/sign-out", {})
    assert out.status_code == 303
    assert out.headers["location"] == "/sign-in"
    async with client_for(app, host_of(tenant_a)) as thief:
        thief.cookies.set("session", stolen, domain=host_of(tenant_a))
        response = await thief.get("/")
    assert response.status_code == 303  # the revoked session's cookie opens nothing


async def test_unknown_page_is_an_html_404(browser_a, owner_a):
    await console_sign_in(browser_a, owner_a.email)
    response = await browser_a.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


async def test_an_unexpected_error_is_a_page_with_the_request_id_and_no_internals(
    browser_a, owner_a, monkeypatch
):
    from platform_core.console.tenant import home

    async def broken(page):
        raise RuntimeError("secret internal detail")

    await console_sign_in(browser_a, owner_a.email)
    monkeypatch.setattr(home, "billing_notice", broken)
    response = await browser_a.get("/", headers={"X-Request-ID": "req-console-500"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "req-console-500" in response.text
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text


async def test_the_form_is_throttled_like_the_api(browser_a, owner_a):
    statuses = []
    for _ in range(6):
        response = await console_sign_in(browser_a, owner_a.email, password="wrong-password-guess")
        statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429]
    assert int(response.headers["retry-after"]) > 0
    assert f'value="{owner_a.email}"' in response.text


def _cookie_token(settings, tenant, user_id, session_id, *, ttl, signed_in_at=None):
    from platform_core.console.tenant.pages import console_audience
    from platform_core.kernel.security.tokens import SigningKeys, issue_access_token

    return issue_access_token(
        SigningKeys.parse(settings.signing_keys_spec),
        subject=str(user_id),
        audience=console_audience(tenant.id),
        ttl_seconds=ttl,
        now=time.time() - (signed_in_at or 0),
        sid=str(session_id),
        sat=int(time.time() - (signed_in_at or 0)),
    )


async def test_an_expired_session_lands_on_sign_in_then_back(browser_a, owner_a, tenant_a, settings):
    await console_sign_in(browser_a, owner_a.email)
    browser = browser_a.cookies.get("session")
    from platform_core.console.cookies import read_session

    class _Request:
        cookies = {"session": browser}

    from platform_core.console.tenant.pages import console_audience
    from platform_core.kernel.security.tokens import SigningKeys

    current = read_session(
        _Request(), SigningKeys.parse(settings.signing_keys_spec), console_audience(tenant_a.id)
    )
    expired = _cookie_token(settings, tenant_a, owner_a.id, current.session_id, ttl=60, signed_in_at=3600)
    browser_a.cookies.set("session", expired, domain=host_of(tenant_a))
    response = await browser_a.get("/?tab=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/%3Ftab%3D2"
    cleared = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("session=")]
    assert cleared
    assert "max-age=0" in cleared[0].lower() or "expires=thu, 01 jan 1970" in cleared[0].lower()
    page = await browser_a.get(response.headers["location"])
    assert "Your session has ended" in page.text


async def test_a_session_past_half_its_life_is_renewed(browser_a, owner_a, tenant_a, settings):
    await console_sign_in(browser_a, owner_a.email)
    from platform_core.console.cookies import read_session
    from platform_core.console.tenant.pages import console_audience
    from platform_core.kernel.security.tokens import SigningKeys

    class _Request:
        cookies = {"session": browser_a.cookies.get("session")}

    keys = SigningKeys.parse(settings.signing_keys_spec)
    current = read_session(_Request(), keys, console_audience(tenant_a.id))
    ttl = settings.console_session_hours * 3600
    aging = _cookie_token(
        settings, tenant_a, owner_a.id, current.session_id, ttl=ttl, signed_in_at=ttl * 3 // 4
    )
    browser_a.cookies.set("session", aging, domain=host_of(tenant_a))
    response = await browser_a.get("/")
    assert response.status_code == 200
    renewed = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("session=")]
    assert len(renewed) == 1
    assert f"max-age={ttl}" in renewed[0].lower()


async def test_a_suspended_workspace_shows_its_page_with_the_reason(app, tenant_service):
    import uuid

    slug = f"s{uuid.uuid4().hex[:8]}"
    tenant_service.create(slug=slug, name="Suspended Co")
    tenant_service.suspend(slug, reason="unpaid invoices")
    async with client_for(app, f"{slug}.example.com") as client:
        response = await client.get("/sign-in")
    assert response.status_code == 403
    assert "This workspace is suspended" in response.text
    assert "unpaid invoices" in response.text


async def test_the_api_keeps_its_json_answers(browser_a):
    missing = await browser_a.get("/api/v1/no-such-route")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = await browser_a.get("/api/v1/auth/token")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
