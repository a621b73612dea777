"""Invitations: invite, accept (the account is created and signed in), resend, revoke, expire."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from platform_core.access.models import Invitation
from platform_core.kernel.db.base import utcnow
from tests.conftest import signed_in
from tests.factories import access_token, create_user
from tests.platform_core.auth.test_sign_in import audit_actions, sign_in
from tests.support.hashing import hashing_threads
from tests.support.mail import link_tokens, only_link_token, queued_emails

PASSWORD = "invited person's passphrase"


async def invite(client, email: str = "guest@example.org", role: str = "member"):
    """POST an invitation."""
    return await client.post("/api/v1/invitations", json={"email": email, "role": role})


async def accept(client, token: str, password: str = PASSWORD):
    """Accept an invitation with its token."""
    return await client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": password, "full_name": "Guest"}
    )


async def test_invite_then_accept_creates_a_signed_in_member(client_a, anon_a, db, tenant_a, owner_a):
    created = await invite(client_a, "Guest@Example.org", "viewer")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "guest@example.org"
    assert body["role"] == "viewer"
    assert body["status"] == "pending"
    assert "token" not in body
    assert "token_hash" not in body
    (email,) = await queued_emails(db, "invitation", "guest@example.org")
    assert email["context"]["tenant_name"] == tenant_a.name
    assert email["context"]["inviter_name"] == owner_a.email
    assert email["context"]["accept_url"].startswith(f"https://{tenant_a.slug}.")

    token = await only_link_token(db, "invitation", "accept_url", "guest@example.org")
    accepted = await accept(anon_a, token)
    assert accepted.status_code == 201, accepted.text
    me = await anon_a.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {accepted.json()['access_token']}"}
    )
    assert me.json()["role"] == "viewer"
    assert me.json()["email_verified"] is True
    assert (await sign_in(anon_a, "guest@example.org", PASSWORD)).status_code == 200
    assert (await accept(anon_a, token)).json()["error"]["code"] == "invalid_link"
    assert (await client_a.get(f"/api/v1/invitations/{body['id']}")).json()["status"] == "accepted"
    assert {"invitation.created", "invitation.accepted"} <= set(await audit_actions(db, tenant_a))


async def test_duplicates_and_members_are_409(client_a, owner_a):
    assert (await invite(client_a)).status_code == 201
    again = await invite(client_a)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_invited"
    member = await invite(client_a, owner_a.email)
    assert member.status_code == 409
    assert member.json()["error"]["code"] == "already_member"


async def test_resend_replaces_the_link_and_revoke_closes_it(client_a, anon_a, db):
    invitation_id = (await invite(client_a)).json()["id"]
    first = await only_link_token(db, "invitation", "accept_url", "guest@example.org")
    assert (await client_a.post(f"/api/v1/invitations/{invitation_id}/resend")).status_code == 200
    (second,) = await link_tokens(db, "invitation", "accept_url", "guest@example.org") - {first}
    assert (await accept(anon_a, first)).status_code == 400
    assert (await client_a.delete(f"/api/v1/invitations/{invitation_id}")).status_code == 204
    revoked = await accept(anon_a, second)
    assert revoked.status_code == 400
    assert revoked.json()["error"]["code"] == "invalid_link"
    assert (await client_a.delete(f"/api/v1/invitations/{invitation_id}")).status_code == 404
    assert (await client_a.post(f"/api/v1/invitations/{invitation_id}/resend")).status_code == 404
    assert (await client_a.get("/api/v1/invitations")).json()["total"] == 0
    closed = (await client_a.get("/api/v1/invitations", params={"include_closed": True})).json()
    assert [i["status"] for i in closed["items"]] == ["revoked"]


async def test_expired_invitation_cannot_be_accepted_but_can_be_renewed(client_a, anon_a, db, tenant_a):
    await invite(client_a)
    token = await only_link_token(db, "invitation", "accept_url", "guest@example.org")
    async with db.session(tenant_a.schema_name) as session:
        await session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(minutes=1)))
        await session.commit()
    expired = await accept(anon_a, token)
    assert expired.status_code == 400
    assert expired.json()["error"]["code"] == "expired_link"
    assert (await client_a.get("/api/v1/invitations")).json()["items"][0]["status"] == "expired"
    renewed = await invite(client_a)  # a new invitation to the same address closes the expired one
    assert renewed.status_code == 201
    (fresh,) = await link_tokens(db, "invitation", "accept_url", "guest@example.org") - {token}
    assert (await accept(anon_a, fresh)).status_code == 201


async def test_weak_password_keeps_the_invitation_open(client_a, anon_a, db):
    await invite(client_a)
    token = await only_link_token(db, "invitation", "accept_url", "guest@example.org")
    weak = await accept(anon_a, token, "short")
    assert weak.status_code == 422
    assert weak.json()["error"]["code"] == "invalid_password"
    assert (await accept(anon_a, token)).status_code == 201


async def test_nobody_invites_with_a_role_beyond_their_own(app, db, settings, tenant_a):
    admin = await create_user(db, tenant_a, role="admin")
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, admin.id)) as client:
        owner = await invite(client, "boss@example.org", "owner")
        assert owner.status_code == 403
        assert owner.json()["error"]["code"] == "cannot_grant"
        assert (await invite(client, "helper@example.org", "admin")).status_code == 201
    assert await queued_emails(db, "invitation", "boss@example.org") == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "x@example.org", "role": "wizard"}, 422, "unknown_role"),
        ({"email": "not an email", "role": "member"}, 422, "validation_error"),
        ({"email": "x@example.org"}, 422, "validation_error"),
    ],
)
async def test_bad_invitations_are_4xx_and_leave_nothing(client_a, db, body, status, code):
    response = await client_a.post("/api/v1/invitations", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert (await client_a.get("/api/v1/invitations")).json()["total"] == 0
    assert await queued_emails(db, "invitation") == []


async def test_invitations_of_another_tenant_are_invisible(client_a, client_b, anon_b, db):
    invitation_id = (await invite(client_a)).json()["id"]
    token = await only_link_token(db, "invitation", "accept_url", "guest@example.org")
    assert (await client_b.get(f"/api/v1/invitations/{invitation_id}")).status_code == 404
    assert (await client_b.post(f"/api/v1/invitations/{invitation_id}/resend")).status_code == 404
    assert (await client_b.delete(f"/api/v1/invitations/{invitation_id}")).status_code == 404
    assert (await client_b.get("/api/v1/invitations")).json()["total"] == 0
    assert (await accept(anon_b, token)).status_code == 400
    assert (await client_a.get(f"/api/v1/invitations/{invitation_id}")).json()["status"] == "pending"


async def test_accepting_hashes_the_password_in_another_thread(client_a, anon_a, db, monkeypatch):
    assert (await invite(client_a)).status_code == 201
    token = await only_link_token(db, "invitation", "accept_url", "guest@example.org")
    threads = hashing_threads(monkeypatch)
    assert (await accept(anon_a, token)).status_code == 201
    assert threads
    assert threading.get_ident() not in threads  # the thread running the event loop and the app
