"""The tenant console's visitor pages over HTTP: sign-up, forgot password, and the pages of emailed links."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from platform_core.access.models import LinkPurpose, OneTimeToken, User
from platform_core.auth import links
from platform_core.kernel.db.base import utcnow
from platform_core.tenant_settings.models import TenantSettings
from tests.conftest import client_for, host_of
from tests.factories import PASSWORD, create_user
from tests.platform_core.auth.test_sign_in import audit_actions
from tests.platform_core.console.support import console_sign_in, csrf_of, nonce_of, post_form
from tests.support.mail import link_tokens, only_link_token, queued_emails

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def browser_a(app: Any, tenant_a: Any) -> Any:
    """A cookie-keeping client on tenant alpha's host, not signed in."""
    async with client_for(app, host_of(tenant_a)) as client:
        yield client


async def allow_signup(db: Any, tenant: Any) -> None:
    """Turn on sign-up for a tenant (inside the test transaction)."""
    async with db.session(tenant.schema_name) as session:
        session.add(TenantSettings(id=1, allow_signup=True))
        await session.commit()


async def user_by_email(db: Any, tenant: Any, email: str) -> User | None:
    """The user with this address in a tenant, if any."""
    async with db.session(tenant.schema_name) as session:
        return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def link_token(db: Any, tenant: Any, user: User, purpose: LinkPurpose) -> str:
    """A fresh link token of `purpose` for `user` (as the services create them)."""
    async with db.session(tenant.schema_name) as session:
        row = await session.get(User, user.id)
        assert row is not None
        token = await links.create_link_token(session, row, purpose, 2)
        await session.commit()
    return token


async def sign_up(client: Any, **data: str) -> Any:
    """Open the sign-up page and send its form."""
    page = await client.get("/sign-up")
    form = {"csrf_token": csrf_of(page.text), "form_nonce": nonce_of(page.text), **data}
    return await client.post("/sign-up", data=form)


class TestSignUp:
    async def test_closed_unless_the_workspace_allows_it(self, browser_a):
        page = await browser_a.get("/sign-up")
        assert page.status_code == 403
        assert "Sign-up is closed" in page.text
        assert "/sign-up" not in (await browser_a.get("/sign-in")).text
        sent = await post_form(
            browser_a, "/sign-in", "/sign-up", {"email": "new@alpha.example.org", "password": NEW_PASSWORD}
        )
        assert sent.status_code == 403
        assert "Sign-up is closed" in sent.text

    async def test_sign_up_sends_a_verification_link_once(self, browser_a, db, tenant_a):
        await allow_signup(db, tenant_a)
        assert 'href="/sign-up"' in (await browser_a.get("/sign-in")).text
        page = await browser_a.get("/sign-up")
        assert page.status_code == 200
        data = {
            "csrf_token": csrf_of(page.text),
            "form_nonce": nonce_of(page.text),
            "email": "New.Person@alpha.example.org",
            "password": NEW_PASSWORD,
            "full_name": "New Person",
        }
        first = await browser_a.post("/sign-up", data=data)
        again = await browser_a.post("/sign-up", data=data)  # a double click
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"] == "/sign-up/sent"
        sent = await browser_a.get("/sign-up/sent")
        assert "Check your inbox" in sent.text
        user = await user_by_email(db, tenant_a, "new.person@alpha.example.org")
        assert user is not None
        assert user.full_name == "New Person"
        assert user.email_verified_at is None
        assert len(await queued_emails(db, "verify_email", user.email)) == 1
        assert (await audit_actions(db, tenant_a)).count("auth.sign_up") == 1

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"email": "not-an-email", "password": NEW_PASSWORD}, "email", "email"),
            ({"email": "short@alpha.example.org", "password": "short"}, "password", "10 to 128"),
            (
                {"email": "long@alpha.example.org", "password": NEW_PASSWORD, "full_name": "x" * 201},
                "full_name",
                "200",
            ),
        ],
    )
    async def test_bad_input_rerenders_with_a_message_by_the_field(
        self, browser_a, db, tenant_a, data, field, message
    ):
        await allow_signup(db, tenant_a)
        response = await sign_up(browser_a, **{"full_name": "Kept Name", **data})
        assert response.status_code == 422
        assert f'id="e-{field}"' in response.text
        assert message in response.text
        if field != "email":
            assert f'value="{data["email"]}"' in response.text
        assert 'name="form_nonce"' in response.text
        assert await user_by_email(db, tenant_a, data["email"]) is None

    async def test_every_mistake_shows_at_once(self, browser_a, db, tenant_a):
        await allow_signup(db, tenant_a)
        response = await sign_up(browser_a, email="nope", password="short")
        assert response.status_code == 422
        assert 'id="e-email"' in response.text
        assert 'id="e-password"' in response.text  # the service's rule, shown before the service runs

    async def test_a_full_plan_says_so_on_the_form(self, app, db, tenant_b):
        await allow_signup(db, tenant_b)  # beta is on the free plan: three seats
        for _ in range(3):
            await create_user(db, tenant_b, role="member")
        async with client_for(app, host_of(tenant_b)) as client:
            page = await client.get("/sign-up")
            data = {
                "csrf_token": csrf_of(page.text),
                "form_nonce": nonce_of(page.text),
                "email": "fourth@beta.example.org",
                "password": NEW_PASSWORD,
            }
            response = await client.post("/sign-up", data=data)
            assert response.status_code == 402
            assert "no free seat" in response.text
            assert 'value="fourth@beta.example.org"' in response.text
            again = await client.post("/sign-up", data=data)  # the refused form may be sent again
            assert again.status_code == 402
        assert await user_by_email(db, tenant_b, "fourth@beta.example.org") is None

    async def test_a_signed_in_user_goes_home(self, browser_a, db, tenant_a, owner_a):
        await allow_signup(db, tenant_a)
        await console_sign_in(browser_a, owner_a.email)
        response = await browser_a.get("/sign-up")
        assert response.status_code == 303
        assert response.headers["location"] == "/"


class TestForgotAndResetPassword:
    async def test_reset_end_to_end(self, browser_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        assert (await browser_a.get("/forgot-password")).status_code == 200
        sent = await post_form(browser_a, "/forgot-password", "/forgot-password", {"email": user.email})
        assert sent.status_code == 303
        assert sent.headers["location"] == "/forgot-password/sent"
        assert (
            "a link to choose a new password is on its way"
            in (await browser_a.get(sent.headers["location"])).text
        )
        token = await only_link_token(db, "password_reset", "reset_url", user.email)

        opened = await browser_a.get(f"/reset-password?token={token}")
        assert opened.status_code == 200
        assert opened.headers["referrer-policy"] == "no-referrer"
        assert "Choose a new password" in opened.text
        assert f'name="token" value="{token}"' in opened.text
        assert (
            await browser_a.get(f"/reset-password?token={token}")
        ).status_code == 200  # not spent by a look

        weak = await browser_a.post(
            "/reset-password", data={"csrf_token": csrf_of(opened.text), "token": token, "password": "short"}
        )
        assert weak.status_code == 422
        assert 'id="e-password"' in weak.text
        assert f'name="token" value="{token}"' in weak.text  # the link is still usable

        done = await browser_a.post(
            "/reset-password",
            data={"csrf_token": csrf_of(opened.text), "token": token, "password": NEW_PASSWORD},
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/sign-in"
        assert token not in done.headers["location"]
        notice = await browser_a.get("/sign-in")
        assert "Your password is changed" in notice.text
        assert (await console_sign_in(browser_a, user.email, PASSWORD)).status_code == 401
        assert (await console_sign_in(browser_a, user.email, NEW_PASSWORD)).status_code == 303

    async def test_unknown_address_gets_the_same_answer(self, browser_a, db):
        sent = await post_form(
            browser_a, "/forgot-password", "/forgot-password", {"email": "nobody@alpha.example.org"}
        )
        assert sent.status_code == 303
        assert sent.headers["location"] == "/forgot-password/sent"
        assert await queued_emails(db, "password_reset", "nobody@alpha.example.org") == []

    async def test_invalid_address_is_a_field_error(self, browser_a):
        response = await post_form(browser_a, "/forgot-password", "/forgot-password", {"email": "nope"})
        assert response.status_code == 422
        assert 'id="e-email"' in response.text
        assert 'value="nope"' in response.text

    async def test_too_many_requests_say_so(self, app, browser_a):
        page = await browser_a.get("/forgot-password")
        token = csrf_of(page.text)
        for n in range(app.state.throttle.per_ip.amount):
            data = {"csrf_token": token, "email": f"n{n}@alpha.example.org"}
            assert (await browser_a.post("/forgot-password", data=data)).status_code == 303
        refused = await browser_a.post(
            "/forgot-password", data={"csrf_token": token, "email": "more@alpha.example.org"}
        )
        assert refused.status_code == 429
        assert "Retry-After" in refused.headers
        assert 'role="alert"' in refused.text
        assert 'value="more@alpha.example.org"' in refused.text

    async def test_a_spent_link_says_so_and_offers_a_new_one(self, browser_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        token = await link_token(db, tenant_a, user, LinkPurpose.RESET_PASSWORD)
        page = await browser_a.get(f"/reset-password?token={token}")
        data = {"csrf_token": csrf_of(page.text), "token": token, "password": NEW_PASSWORD}
        assert (await browser_a.post("/reset-password", data=data)).status_code == 303
        spent = await browser_a.get(f"/reset-password?token={token}")
        assert spent.status_code == 400
        assert spent.headers["referrer-policy"] == "no-referrer"
        assert "This link cannot be used" in spent.text
        assert 'action="/forgot-password"' in spent.text
        replayed = await browser_a.post("/reset-password", data=data)
        assert replayed.status_code == 400
        assert "This link cannot be used" in replayed.text

    @pytest.mark.parametrize("query", ["?token=not-a-token", "", "?token=", "?token=" + "x" * 300])
    async def test_an_invalid_link_says_so(self, browser_a, query):
        for path in ("/reset-password", "/set-password", "/verify-email"):
            response = await browser_a.get(path + query)
            assert response.status_code == 400
            assert "This link cannot be used" in response.text

    async def test_an_expired_link_says_so(self, browser_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        token = await link_token(db, tenant_a, user, LinkPurpose.RESET_PASSWORD)
        async with db.session(tenant_a.schema_name) as session:
            await session.execute(
                update(OneTimeToken)
                .where(OneTimeToken.user_id == user.id)
                .values(expires_at=utcnow() - timedelta(minutes=1))
            )
            await session.commit()
        response = await browser_a.get(f"/reset-password?token={token}")
        assert response.status_code == 400
        assert "This link has expired" in response.text
        assert 'action="/forgot-password"' in response.text

    async def test_a_verification_link_does_not_reset_a_password(self, browser_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member", email_verified_at=None)
        token = await link_token(db, tenant_a, user, LinkPurpose.VERIFY_EMAIL)
        assert (await browser_a.get(f"/reset-password?token={token}")).status_code == 400

    async def test_forms_without_the_csrf_token_are_refused(self, browser_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member")
        token = await link_token(db, tenant_a, user, LinkPurpose.RESET_PASSWORD)
        await browser_a.get(f"/reset-password?token={token}")
        refused = await browser_a.post("/reset-password", data={"token": token, "password": NEW_PASSWORD})
        assert refused.status_code == 403
        assert (await browser_a.post("/forgot-password", data={"email": user.email})).status_code == 403
        assert await queued_emails(db, "password_reset", user.email) == []
        assert (await browser_a.get(f"/reset-password?token={token}")).status_code == 200  # still unspent


class TestSetPassword:
    async def test_a_new_owner_chooses_a_password(self, browser_a, db, tenant_a):
        owner = await create_user(
            db,
            tenant_a,
            role="owner",
            password_hash=None,
            email_verified_at=None,
            email="new-owner@alpha.example.org",
        )
        token = await link_token(db, tenant_a, owner, LinkPurpose.SET_PASSWORD)
        page = await browser_a.get(f"/set-password?token={token}")
        assert page.status_code == 200
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "Choose your password" in page.text
        assert owner.email in page.text
        assert 'action="/set-password"' in page.text
        done = await browser_a.post(
            "/set-password", data={"csrf_token": csrf_of(page.text), "token": token, "password": NEW_PASSWORD}
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/sign-in"
        assert "Your password is set" in (await browser_a.get("/sign-in")).text
        assert (await console_sign_in(browser_a, owner.email, NEW_PASSWORD)).status_code == 303
        again = await browser_a.get(f"/set-password?token={token}")
        assert again.status_code == 400
        assert 'action="/forgot-password"' in again.text


class TestVerifyEmail:
    async def test_opening_the_link_verifies_nothing_the_button_does(self, browser_a, db, tenant_a):
        await allow_signup(db, tenant_a)
        email = "joiner@alpha.example.org"
        assert (await sign_up(browser_a, email=email, password=NEW_PASSWORD)).status_code == 303
        token = await only_link_token(db, "verify_email", "verify_url", email)
        opened = await browser_a.get(f"/verify-email?token={token}")
        assert opened.status_code == 200
        assert opened.headers["referrer-policy"] == "no-referrer"
        assert "Verify my email" in opened.text
        assert email in opened.text
        refused = await console_sign_in(browser_a, email, NEW_PASSWORD)
        assert refused.status_code == 403  # a look at the link verified nothing
        assert "Verify your email address first" in refused.text

        page = await browser_a.get(f"/verify-email?token={token}")
        verified = await browser_a.post(
            "/verify-email", data={"csrf_token": csrf_of(page.text), "token": token}
        )
        assert verified.status_code == 303
        assert verified.headers["location"] == "/verify-email/done"
        done = await browser_a.get("/verify-email/done")
        assert "Your email address is verified" in done.text
        assert 'href="/sign-in"' in done.text
        assert (await console_sign_in(browser_a, email, NEW_PASSWORD)).status_code == 303

    async def test_a_spent_link_offers_a_new_one(self, browser_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member", email_verified_at=None)
        token = await link_token(db, tenant_a, user, LinkPurpose.VERIFY_EMAIL)
        page = await browser_a.get(f"/verify-email?token={token}")
        data = {"csrf_token": csrf_of(page.text), "token": token}
        assert (await browser_a.post("/verify-email", data=data)).status_code == 303
        spent = await browser_a.get(f"/verify-email?token={token}")
        assert spent.status_code == 400
        assert "already verified your address" in spent.text
        assert 'action="/resend-verification"' in spent.text
        assert (await browser_a.post("/verify-email", data=data)).status_code == 400

    async def test_resend_verification(self, browser_a, db, tenant_a):
        user = await create_user(db, tenant_a, role="member", email_verified_at=None)
        before = await link_tokens(db, "verify_email", "verify_url", user.email)
        assert (await browser_a.get("/resend-verification")).status_code == 200
        sent = await post_form(
            browser_a, "/resend-verification", "/resend-verification", {"email": user.email}
        )
        assert sent.status_code == 303
        assert sent.headers["location"] == "/resend-verification/sent"
        assert "a new link is on its way" in (await browser_a.get(sent.headers["location"])).text
        new = await link_tokens(db, "verify_email", "verify_url", user.email) - before
        assert len(new) == 1
        landing = urlsplit((await queued_emails(db, "verify_email", user.email))[-1]["context"]["verify_url"])
        assert landing.path == "/verify-email"
