"""The members, invitations and accept-invitation pages over HTTP: who sees and does what, the
service's refusals on the page, the emailed link and its failures, and the browser session it opens."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from platform_core.access.models import Invitation, User
from platform_core.access.permissions import builtin_role_id
from platform_core.kernel.db.base import utcnow
from tests.conftest import client_for, host_of
from tests.factories import PASSWORD, create_role, create_user
from tests.platform_core.auth.test_sign_in import audit_actions
from tests.platform_core.console.support import console_sign_in, csrf_of, nonce_of, post_form
from tests.support.mail import link_tokens, only_link_token

NEW_PASSWORD = "a long enough passphrase"


@pytest.fixture
async def browser_a(app: Any, tenant_a: Any) -> Any:
    """A cookie-keeping client on tenant alpha's host, not signed in."""
    async with client_for(app, host_of(tenant_a)) as client:
        yield client


@pytest.fixture
async def visitor_a(app: Any, tenant_a: Any) -> Any:
    """A second browser on tenant alpha's host (the invited person's)."""
    async with client_for(app, host_of(tenant_a)) as client:
        yield client


async def signed_in_as(client: Any, db: Any, tenant: Any, role: str, **fields: Any) -> User:
    """A new user of `role`, signed in to the console with `client`."""
    user = await create_user(db, tenant, role=role, **fields)
    assert (await console_sign_in(client, user.email)).status_code == 303
    return user


async def role_of(db: Any, tenant: Any, user_id: uuid.UUID) -> uuid.UUID | None:
    """A user's role id, or None when the user is gone."""
    async with db.session(tenant.schema_name) as session:
        user = await session.get(User, user_id)
        return user.role_id if user else None


async def invite(client: Any, email: str, role: str = "member") -> Any:
    """Send the invite form as a browser would (its CSRF token and one-time token)."""
    html = (await client.get("/members/invite")).text
    data = {"csrf_token": csrf_of(html), "form_nonce": nonce_of(html), "email": email, "role": role}
    return await client.post("/members/invite", data=data)


async def invitation_row(db: Any, tenant: Any, email: str) -> Invitation:
    """The newest invitation of `email`."""
    async with db.session(tenant.schema_name) as session:
        stmt = select(Invitation).where(Invitation.email == email).order_by(Invitation.created_at.desc())
        return (await session.execute(stmt)).scalars().first()


class TestMembersPage:
    async def test_lists_members_with_changes_for_a_manager(self, browser_a, db, tenant_a):
        owner = await signed_in_as(browser_a, db, tenant_a, "owner")
        other = await create_user(db, tenant_a, role="viewer")
        page = await browser_a.get("/members")
        assert page.status_code == 200
        assert owner.email in page.text
        assert other.email in page.text
        assert f'action="/members/{other.id}/role"' in page.text
        assert f'action="/members/{other.id}/remove"' in page.text
        assert f'action="/members/{owner.id}/remove"' not in page.text  # leaving is on the account page
        assert 'href="/members/invite"' in page.text
        assert 'aria-current="page">Members' in page.text

    async def test_a_reader_sees_the_list_without_buttons(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "viewer")
        other = await create_user(db, tenant_a, role="member")
        page = await browser_a.get("/members")
        assert page.status_code == 200
        assert other.email in page.text
        assert "/role" not in page.text
        assert "/remove" not in page.text
        assert 'href="/members/invite"' not in page.text
        assert 'href="/roles"' not in page.text
        assert 'href="/api-keys"' not in page.text
        data = {"csrf_token": csrf_of(page.text), "role": "owner"}
        refused = await browser_a.post(f"/members/{other.id}/role", data=data)
        assert refused.status_code == 403
        assert "You cannot open this page" in refused.text
        assert await role_of(db, tenant_a, other.id) == builtin_role_id("member")
        assert (await browser_a.get("/members/invite")).status_code == 403

    async def test_without_members_read_the_page_is_403(self, browser_a, db, tenant_a):
        role = await create_role(db, tenant_a, "itemsonly", ["items:read"])
        await signed_in_as(browser_a, db, tenant_a, "viewer", role_id=role.id)
        assert 'href="/members"' not in (await browser_a.get("/")).text
        for path in ("/members", "/members/invitations"):
            response = await browser_a.get(path)
            assert response.status_code == 403, path
            assert "members:read" in response.text

    async def test_a_visitor_is_sent_to_sign_in(self, browser_a):
        response = await browser_a.get("/members")
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=/members"

    async def test_change_a_role(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        other = await create_user(db, tenant_a, role="viewer")
        changed = await post_form(browser_a, "/members", f"/members/{other.id}/role", {"role": "admin"})
        assert changed.status_code == 303
        assert changed.headers["location"] == "/members"
        assert f"{other.email} is now admin." in (await browser_a.get("/members")).text
        assert await role_of(db, tenant_a, other.id) == builtin_role_id("admin")
        assert "member.role_changed" in await audit_actions(db, tenant_a)

    async def test_refusals_of_the_service_show_on_the_page(self, browser_a, db, tenant_a):
        admin = await signed_in_as(browser_a, db, tenant_a, "admin")
        owner = await create_user(db, tenant_a, role="owner")
        viewer = await create_user(db, tenant_a, role="viewer")
        page = (await browser_a.get("/members")).text
        assert f'action="/members/{owner.id}/role"' not in page  # the owner outranks an admin
        assert '<option value="owner"' not in page  # an admin cannot grant billing:manage
        token = csrf_of(page)
        cases = [
            (f"/members/{viewer.id}/role", {"role": "owner"}, 403, "You cannot grant permissions"),
            (f"/members/{owner.id}/role", {"role": "viewer"}, 403, "holds permissions you do not have"),
            (f"/members/{owner.id}/remove", {}, 403, "holds permissions you do not have"),
            (f"/members/{viewer.id}/role", {"role": "nosuchrole"}, 422, "No role with this name."),
            (f"/members/{viewer.id}/role", {}, 422, "Choose a role"),
        ]
        for action, data, status, message in cases:
            response = await browser_a.post(action, data={"csrf_token": token, **data})
            assert response.status_code == status, action
            assert 'role="alert"' in response.text, action
            assert message in response.text, action
        assert await role_of(db, tenant_a, viewer.id) == builtin_role_id("viewer")
        assert await role_of(db, tenant_a, owner.id) == builtin_role_id("owner")
        assert admin.id

    async def test_the_last_owner_stays_owner(self, browser_a, db, tenant_a, owner_a):
        async with db.session(tenant_a.schema_name) as session:  # owner_a becomes the only owner
            for user in (await session.execute(select(User))).scalars():
                if user.id != owner_a.id and user.role_id == builtin_role_id("owner"):
                    await session.delete(user)
            await session.commit()
        await console_sign_in(browser_a, owner_a.email)
        admin = await create_user(db, tenant_a, role="admin")
        response = await post_form(browser_a, "/members", f"/members/{owner_a.id}/role", {"role": "admin"})
        assert response.status_code == 409
        assert "keeps at least one owner" in response.text
        assert await role_of(db, tenant_a, owner_a.id) == builtin_role_id("owner")
        assert admin.id

    async def test_remove_a_member_ends_their_session(self, browser_a, visitor_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        other = await signed_in_as(visitor_a, db, tenant_a, "member")
        assert (await visitor_a.get("/account")).status_code == 200
        removed = await post_form(browser_a, "/members", f"/members/{other.id}/remove", {})
        assert removed.status_code == 303
        assert f"{other.email} was removed." in (await browser_a.get("/members")).text
        assert await role_of(db, tenant_a, other.id) is None
        assert "member.removed" in await audit_actions(db, tenant_a)
        assert (await visitor_a.get("/account")).status_code == 303  # signed out at once

    async def test_paging(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        for n in range(26):
            await create_user(db, tenant_a, role="viewer", email=f"z{n:02d}@paging.example.org")
        first = await browser_a.get("/members")
        assert 'href="/members?page=2"' in first.text
        second = await browser_a.get("/members?page=2")
        assert "z25@paging.example.org" in second.text
        assert "z00@paging.example.org" not in second.text
        assert (await browser_a.get("/members?page=nonsense")).status_code == 200


class TestInvitations:
    async def test_invite_lists_resends_and_revokes(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        sent = await invite(browser_a, "guest@example.org", "viewer")
        assert sent.status_code == 303
        assert sent.headers["location"] == "/members/invitations"
        listing = await browser_a.get("/members/invitations")
        assert "Invitation sent to guest@example.org as viewer." in listing.text
        assert "guest@example.org" in listing.text
        assert "pending" in listing.text
        first = await only_link_token(db, "invitation", "accept_url", "guest@example.org")
        row = await invitation_row(db, tenant_a, "guest@example.org")
        assert row.role_id == builtin_role_id("viewer")

        resent = await post_form(
            browser_a, "/members/invitations", f"/members/invitations/{row.id}/resend", {}
        )
        assert resent.status_code == 303
        assert len(await link_tokens(db, "invitation", "accept_url", "guest@example.org") - {first}) == 1

        revoked = await post_form(
            browser_a, "/members/invitations", f"/members/invitations/{row.id}/revoke", {}
        )
        assert revoked.status_code == 303
        after = await browser_a.get("/members/invitations")
        assert "The invitation of guest@example.org is revoked." in after.text
        assert (await invitation_row(db, tenant_a, "guest@example.org")).revoked_at is not None
        actions = await audit_actions(db, tenant_a)
        assert {"invitation.created", "invitation.resent", "invitation.revoked"} <= set(actions)
        # a revoked invitation is closed: it answers 404 like any unknown one
        again = await post_form(
            browser_a, "/members/invitations", f"/members/invitations/{row.id}/revoke", {}
        )
        assert again.status_code == 404

    async def test_a_double_submit_invites_once(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        html = (await browser_a.get("/members/invite")).text
        data = {"csrf_token": csrf_of(html), "form_nonce": nonce_of(html), "email": "twice@example.org"}
        data["role"] = "member"
        first = await browser_a.post("/members/invite", data=data)
        second = await browser_a.post("/members/invite", data=data)
        assert (first.status_code, second.status_code) == (303, 303)
        assert len(await link_tokens(db, "invitation", "accept_url", "twice@example.org")) == 1

    @pytest.mark.parametrize(
        ("email", "role", "status", "field", "message"),
        [
            ("not-an-email", "member", 422, "email", "valid email"),
            ("new@example.org", "nosuchrole", 422, "role", "No role with this name."),
            ("new@example.org", "", 422, "role", "at least 1"),
        ],
    )
    async def test_bad_invitations_are_field_errors(
        self, browser_a, db, tenant_a, email, role, status, field, message
    ):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        response = await invite(browser_a, email, role)
        assert response.status_code == status
        assert f'id="e-{field}"' in response.text
        assert message in response.text
        assert f'value="{email}"' in response.text

    async def test_members_and_invited_addresses_are_refused(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        member = await create_user(db, tenant_a, role="member")
        taken = await invite(browser_a, member.email)
        assert taken.status_code == 409
        assert "already belongs to a member" in taken.text
        assert (await invite(browser_a, "once@example.org")).status_code == 303
        twice = await invite(browser_a, "once@example.org")
        assert twice.status_code == 409
        assert "already has an open invitation" in twice.text

    async def test_a_full_plan_is_said_on_the_form(self, app, db, tenant_b):
        async with client_for(app, host_of(tenant_b)) as browser:  # beta: the free plan, 3 seats
            await signed_in_as(browser, db, tenant_b, "owner")
            for _ in range(2):
                await create_user(db, tenant_b, role="viewer")
            refused = await invite(browser, "one-too-many@example.org")
            assert refused.status_code == 402
            assert "Every seat of your plan is taken" in refused.text
            assert 'value="one-too-many@example.org"' in refused.text
        assert await invitation_row(db, tenant_b, "one-too-many@example.org") is None

    async def test_an_admin_cannot_invite_an_owner(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "admin")
        form = (await browser_a.get("/members/invite")).text
        assert '<option value="owner"' not in form
        assert '<option value="admin"' in form
        refused = await invite(browser_a, "boss@example.org", "owner")
        assert refused.status_code == 403
        assert "You cannot grant permissions" in refused.text
        assert await invitation_row(db, tenant_a, "boss@example.org") is None

    async def test_a_reader_sees_invitations_without_buttons(self, browser_a, visitor_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        await invite(browser_a, "seen@example.org")
        await signed_in_as(visitor_a, db, tenant_a, "viewer")
        listing = await visitor_a.get("/members/invitations")
        assert listing.status_code == 200
        assert "seen@example.org" in listing.text
        assert "/resend" not in listing.text
        assert "/revoke" not in listing.text
        row = await invitation_row(db, tenant_a, "seen@example.org")
        token = csrf_of(listing.text)
        refused = await visitor_a.post(f"/members/invitations/{row.id}/revoke", data={"csrf_token": token})
        assert refused.status_code == 403


class TestAcceptInvitation:
    async def _invited(self, browser: Any, db: Any, tenant: Any, email: str, role: str = "member") -> str:
        await signed_in_as(browser, db, tenant, "owner")
        assert (await invite(browser, email, role)).status_code == 303
        return await only_link_token(db, "invitation", "accept_url", email)

    async def test_a_new_account_is_created_and_signed_in(self, browser_a, visitor_a, db, tenant_a):
        token = await self._invited(browser_a, db, tenant_a, "joiner@example.org", "viewer")
        page = await visitor_a.get(f"/accept-invitation?token={token}")
        assert page.status_code == 200
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "joiner@example.org" in page.text
        assert "viewer" in page.text
        assert f'name="token" value="{token}"' in page.text
        data = {"csrf_token": csrf_of(page.text), "token": token, "full_name": "Jo Iner"}
        weak = await visitor_a.post("/accept-invitation", data={**data, "password": "short"})
        assert weak.status_code == 422
        assert 'id="e-password"' in weak.text
        assert "10 to 128" in weak.text
        assert 'value="Jo Iner"' in weak.text
        accepted = await visitor_a.post("/accept-invitation", data={**data, "password": NEW_PASSWORD})
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/"
        assert "token" not in accepted.headers["location"]
        home = await visitor_a.get("/")
        assert home.status_code == 200
        assert "Welcome to Alpha!" in home.text
        assert "joiner@example.org" in home.text
        async with db.session(tenant_a.schema_name) as session:
            user = (
                await session.execute(select(User).where(User.email == "joiner@example.org"))
            ).scalar_one()
        assert user.full_name == "Jo Iner"
        assert user.role_id == builtin_role_id("viewer")
        assert "invitation.accepted" in await audit_actions(db, tenant_a)
        spent = await visitor_a.get(f"/accept-invitation?token={token}")
        assert spent.status_code == 400
        assert "This invitation cannot be used" in spent.text

    @pytest.mark.parametrize("token", [None, "", "x" * 201, "unknown-token"])
    async def test_an_invalid_link_says_so(self, visitor_a, token):
        url = "/accept-invitation" if token is None else f"/accept-invitation?token={token}"
        page = await visitor_a.get(url)
        assert page.status_code == 400
        assert "This invitation cannot be used" in page.text
        assert "send the invitation again" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"

    async def test_an_expired_or_revoked_link_says_so(self, browser_a, visitor_a, db, tenant_a):
        token = await self._invited(browser_a, db, tenant_a, "late@example.org")
        row = await invitation_row(db, tenant_a, "late@example.org")
        async with db.session(tenant_a.schema_name) as session:
            (await session.get(Invitation, row.id)).expires_at = utcnow()
            await session.commit()
        page = await visitor_a.get(f"/accept-invitation?token={token}")
        assert page.status_code == 400
        assert "This invitation has expired" in page.text
        data = {"csrf_token": csrf_of((await visitor_a.get("/sign-in")).text), "token": token}
        data["password"] = NEW_PASSWORD
        posted = await visitor_a.post("/accept-invitation", data=data)
        assert posted.status_code == 400
        assert "This invitation has expired" in posted.text
        assert await invitation_row(db, tenant_a, "late@example.org") is not None

    async def test_an_existing_account_signs_in_and_keeps_its_role(self, browser_a, visitor_a, db, tenant_a):
        token = await self._invited(browser_a, db, tenant_a, "already@example.org", "admin")
        existing = await create_user(
            db, tenant_a, role="viewer", email="already@example.org"
        )  # signed up since
        page = await visitor_a.get(f"/accept-invitation?token={token}")
        assert page.status_code == 200
        assert 'action="/accept-invitation/sign-in"' in page.text
        assert "already has an account" in page.text
        data = {"csrf_token": csrf_of(page.text), "token": token}
        wrong = await visitor_a.post(
            "/accept-invitation/sign-in", data={**data, "password": "not the password"}
        )
        assert wrong.status_code == 401
        assert "The email or password is incorrect." in wrong.text
        # creating a second account for the address is refused with the sign-in form
        new = await visitor_a.post("/accept-invitation", data={**data, "password": NEW_PASSWORD})
        assert new.status_code == 409
        assert 'action="/accept-invitation/sign-in"' in new.text
        joined = await visitor_a.post("/accept-invitation/sign-in", data={**data, "password": PASSWORD})
        assert joined.status_code == 303
        home = await visitor_a.get("/")
        assert "keeps its role" in home.text
        assert existing.email in home.text
        assert await role_of(db, tenant_a, existing.id) == builtin_role_id("viewer")
        assert (await invitation_row(db, tenant_a, "already@example.org")).accepted_at is not None
        actions = await audit_actions(db, tenant_a)
        assert {"auth.sign_in_failed", "auth.sign_in", "invitation.accepted"} <= set(actions)
        assert (await visitor_a.get(f"/accept-invitation?token={token}")).status_code == 400

    async def test_the_form_needs_the_csrf_token(self, browser_a, visitor_a, db, tenant_a):
        token = await self._invited(browser_a, db, tenant_a, "csrf@example.org")
        await visitor_a.get(f"/accept-invitation?token={token}")
        data = {"token": token, "password": NEW_PASSWORD}
        assert (await visitor_a.post("/accept-invitation", data=data)).status_code == 403
        assert (await invitation_row(db, tenant_a, "csrf@example.org")).accepted_at is None

    async def test_another_tenants_link_is_invalid_here(self, app, browser_a, db, tenant_a, tenant_b):
        token = await self._invited(browser_a, db, tenant_a, "wrong-host@example.org")
        async with client_for(app, host_of(tenant_b)) as other:
            page = await other.get(f"/accept-invitation?token={token}")
        assert page.status_code == 400
        assert re.search(r"This invitation cannot be used", page.text)


async def test_the_role_picker_follows_role_changes_at_once(browser_a, client_a, db, tenant_a):
    """The picker's roles are cached per process; creating, renaming or deleting a role drops them."""
    await signed_in_as(browser_a, db, tenant_a, "owner")
    await browser_a.get("/members")  # fills the cache
    name = f"picker-{uuid.uuid4().hex[:6]}"
    created = await client_a.post("/api/v1/roles", json={"name": name, "permissions": ["items:read"]})
    assert created.status_code == 201, created.text
    assert f'<option value="{name}"' in (await browser_a.get("/members")).text
    renamed = f"{name}-x"
    await client_a.patch(f"/api/v1/roles/{created.json()['id']}", json={"name": renamed})
    page = (await browser_a.get("/members")).text
    assert f'<option value="{renamed}"' in page
    assert f'<option value="{name}"' not in page
    assert (await client_a.delete(f"/api/v1/roles/{created.json()['id']}")).status_code == 204
    assert renamed not in (await browser_a.get("/members")).text
