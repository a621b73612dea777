"""The signed-in user's account page and the workspace settings page over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from platform_core.access.models import User
from tests.conftest import client_for, host_of
from tests.factories import PASSWORD, create_user
from tests.platform_core.auth.test_sign_in import audit_actions, sign_in
from tests.platform_core.console.support import console_sign_in, csrf_of, post_form

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def browser_a(app: Any, tenant_a: Any) -> Any:
    """A cookie-keeping client on tenant alpha's host, not signed in."""
    async with client_for(app, host_of(tenant_a)) as client:
        yield client


@pytest.fixture
async def other_browser_a(app: Any, tenant_a: Any) -> Any:
    """A second browser on tenant alpha's host."""
    async with client_for(app, host_of(tenant_a)) as client:
        yield client


async def signed_in_as(client: Any, db: Any, tenant: Any, role: str) -> User:
    """A new user of `role`, signed in to the console with `client`."""
    user = await create_user(db, tenant, role=role)
    assert (await console_sign_in(client, user.email)).status_code == 303
    return user


class TestAccountPage:
    async def test_shows_the_account(self, browser_a, db, tenant_a):
        user = await signed_in_as(browser_a, db, tenant_a, "member")
        page = await browser_a.get("/account")
        assert page.status_code == 200
        assert user.email in page.text
        assert "member" in page.text
        assert f'value="{user.full_name}"' in page.text

    async def test_a_visitor_is_sent_to_sign_in(self, browser_a):
        response = await browser_a.get("/account")
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=/account"

    async def test_change_the_name(self, browser_a, db, tenant_a):
        user = await signed_in_as(browser_a, db, tenant_a, "member")
        saved = await post_form(browser_a, "/account", "/account/profile", {"full_name": "  Ada Lovelace "})
        assert saved.status_code == 303
        assert saved.headers["location"] == "/account"
        page = await browser_a.get("/account")
        assert "Your name is saved." in page.text
        assert 'value="Ada Lovelace"' in page.text
        assert "user.profile_updated" in await audit_actions(db, tenant_a)
        too_long = await post_form(browser_a, "/account", "/account/profile", {"full_name": "y" * 201})
        assert too_long.status_code == 422
        assert 'id="e-full_name"' in too_long.text
        assert 'value="' + "y" * 201 + '"' in too_long.text
        async with db.session(tenant_a.schema_name) as session:
            assert (await session.get(User, user.id)).full_name == "Ada Lovelace"

    async def test_change_the_password_keeps_this_session_and_ends_the_others(
        self, browser_a, other_browser_a, anon_a, db, tenant_a
    ):
        user = await signed_in_as(browser_a, db, tenant_a, "member")
        assert (await console_sign_in(other_browser_a, user.email)).status_code == 303
        data = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        changed = await post_form(browser_a, "/account", "/account/password", data)
        assert changed.status_code == 303
        assert "Your password is changed" in (await browser_a.get("/account")).text
        assert (await other_browser_a.get("/account")).status_code == 303  # that session ended
        assert (await sign_in(anon_a, user.email, NEW_PASSWORD)).status_code == 200

    @pytest.mark.parametrize(
        ("current", "new", "status", "field", "message"),
        [
            ("not my password", NEW_PASSWORD, 403, "current_password", "The current password is incorrect."),
            (PASSWORD, "short", 422, "new_password", "10 to 128"),
            ("", NEW_PASSWORD, 422, "current_password", "at least 1"),
        ],
    )
    async def test_a_bad_password_change_is_a_field_error(
        self, browser_a, anon_a, db, tenant_a, current, new, status, field, message
    ):
        user = await signed_in_as(browser_a, db, tenant_a, "member")
        data = {"current_password": current, "new_password": new}
        response = await post_form(browser_a, "/account", "/account/password", data)
        assert response.status_code == status
        assert f'id="e-{field}"' in response.text
        assert message in response.text
        assert (await sign_in(anon_a, user.email, PASSWORD)).status_code == 200

    async def test_guessing_the_current_password_is_throttled(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "member")
        token = csrf_of((await browser_a.get("/account")).text)
        data = {"csrf_token": token, "current_password": "a wrong guess!", "new_password": NEW_PASSWORD}
        codes = [(await browser_a.post("/account/password", data=data)).status_code for _ in range(6)]
        assert codes == [403] * 5 + [429]
        refused = await browser_a.post("/account/password", data=data)
        assert "Retry-After" in refused.headers
        assert 'role="alert"' in refused.text

    async def test_forms_without_the_csrf_token_are_refused(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "member")
        for action, data in [
            ("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
            ("/account/profile", {"full_name": "Mallory"}),
            ("/account/sign-out-everywhere", {}),
            ("/account/leave", {}),
        ]:
            response = await browser_a.post(action, data=data)
            assert response.status_code == 403, action
        assert (await browser_a.get("/account")).status_code == 200


class TestSignOutEverywhere:
    async def test_ends_every_session_of_the_user(
        self, app, browser_a, other_browser_a, anon_a, db, tenant_a
    ):
        user = await signed_in_as(browser_a, db, tenant_a, "member")
        assert (await console_sign_in(other_browser_a, user.email)).status_code == 303
        api = (await sign_in(anon_a, user.email)).json()
        async with client_for(app, host_of(tenant_a)) as bystander:
            await signed_in_as(bystander, db, tenant_a, "member")
            out = await post_form(browser_a, "/account", "/account/sign-out-everywhere", {})
            assert out.status_code == 303
            assert out.headers["location"] == "/sign-in"
            assert "You are signed out everywhere" in (await browser_a.get("/sign-in")).text
            for client in (browser_a, other_browser_a):
                response = await client.get("/account")
                assert response.status_code == 303
                assert response.headers["location"].startswith("/sign-in")
            assert (await bystander.get("/account")).status_code == 200  # another user's session
        refreshed = await anon_a.post("/api/v1/auth/refresh", json={"refresh_token": api["refresh_token"]})
        assert refreshed.status_code == 401
        assert "auth.sign_out_everywhere" in await audit_actions(db, tenant_a)

    async def test_sign_out_still_ends_only_this_browser(self, browser_a, other_browser_a, db, tenant_a):
        user = await signed_in_as(browser_a, db, tenant_a, "member")
        assert (await console_sign_in(other_browser_a, user.email)).status_code == 303
        assert (await post_form(browser_a, "/account", "/sign-out", {})).status_code == 303
        assert (await browser_a.get("/account")).status_code == 303
        assert (await other_browser_a.get("/account")).status_code == 200


class TestLeave:
    async def test_a_member_leaves(self, browser_a, anon_a, db, tenant_a):
        user = await signed_in_as(browser_a, db, tenant_a, "member")
        left = await post_form(browser_a, "/account", "/account/leave", {})
        assert left.status_code == 303
        assert left.headers["location"] == "/sign-in"
        assert f"You left {tenant_a.name}." in (await browser_a.get("/sign-in")).text
        async with db.session(tenant_a.schema_name) as session:
            assert (
                await session.execute(select(User).where(User.id == user.id))
            ).scalar_one_or_none() is None
        assert (await browser_a.get("/account")).status_code == 303

    async def test_the_last_owner_cannot_leave(self, app, tenant_b, db):
        async with client_for(app, host_of(tenant_b)) as client:
            await signed_in_as(client, db, tenant_b, "owner")  # beta has no other owner
            refused = await post_form(client, "/account", "/account/leave", {})
            assert refused.status_code == 409
            assert "at least one owner" in refused.text
            assert (await client.get("/account")).status_code == 200


class TestSettingsPage:
    async def test_an_owner_turns_sign_up_on_and_off(self, app, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        page = await browser_a.get("/settings")
        assert page.status_code == 200
        assert 'name="allow_signup"' in page.text
        assert " checked" not in page.text
        assert (
            await browser_a.get("/sign-up")
        ).status_code == 303  # signed in: home; sign-up is for visitors
        saved = await post_form(browser_a, "/settings", "/settings", {"allow_signup": "true"})
        assert saved.status_code == 303
        assert saved.headers["location"] == "/settings"
        page = await browser_a.get("/settings")
        assert "Settings saved." in page.text
        assert " checked" in page.text
        async with client_for(app, host_of(tenant_a)) as visitor:
            assert (await visitor.get("/sign-up")).status_code == 200
            off = await post_form(browser_a, "/settings", "/settings", {})
            assert off.status_code == 303
            assert (await visitor.get("/sign-up")).status_code == 403
        assert (await audit_actions(db, tenant_a)).count("tenant.settings_changed") == 2

    async def test_a_member_without_the_permission_gets_403(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "member")
        page = await browser_a.get("/settings")
        assert page.status_code == 403
        assert "You cannot open this page" in page.text
        token = csrf_of((await browser_a.get("/account")).text)
        refused = await browser_a.post("/settings", data={"csrf_token": token, "allow_signup": "true"})
        assert refused.status_code == 403
        assert 'href="/settings"' not in (await browser_a.get("/")).text

    async def test_settings_without_the_csrf_token_are_refused(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        await browser_a.get("/settings")
        assert (await browser_a.post("/settings", data={"allow_signup": "true"})).status_code == 403
        assert " checked" not in (await browser_a.get("/settings")).text
