"""A new tenant's owner: created with the tenant, by password or by an emailed set-password link."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from billing.seats import SEATS_TASK as BILLING_SEATS_TASK
from platform_core.access.models import Role, User
from platform_core.access.permissions import builtin_role_id
from platform_core.audit.models import AuditEvent
from platform_core.kernel.errors import AppError
from platform_core.kernel.outbox import OutboxMessage
from tenants.models import Tenant
from tests.conftest import client_for, host_of
from tests.factories import UserFactory
from tests.support.mail import token_in
from workers.email.tasks import SEND_TASK

PASSWORD = "the owner's own passphrase"


def _slug() -> str:
    return f"own-{uuid.uuid4().hex[:8]}"


def _owner(sync_db, tenant) -> User:
    with sync_db.sync_session(tenant.schema_name) as session:
        return session.execute(select(User)).scalar_one()


def _set_password_email(sync_db, tenant_id: uuid.UUID) -> dict:
    with sync_db.sync_session() as session:
        rows = (
            session.execute(
                select(OutboxMessage.kwargs).where(
                    OutboxMessage.task_name == SEND_TASK, OutboxMessage.tenant_id == tenant_id
                )
            )
            .scalars()
            .all()
        )
    assert len(rows) == 1
    return rows[0]


def test_every_new_schema_has_the_builtin_roles(tenant_service, sync_db):
    tenant = tenant_service.create(slug=_slug(), name="Roles")
    with sync_db.sync_session(tenant.schema_name) as session:
        roles = {r.name: r for r in session.execute(select(Role)).scalars()}
    assert set(roles) == {"owner", "admin", "member", "viewer"}
    assert all(r.builtin and r.id == builtin_role_id(r.name) for r in roles.values())


async def test_owner_with_a_password_signs_in_at_once(app, tenant_service, sync_db):
    tenant = tenant_service.create(
        slug=_slug(), name="Scripted", owner_email="Boss@Example.com", owner_password=PASSWORD
    )
    owner = _owner(sync_db, tenant)
    assert (owner.email, owner.role_id) == ("boss@example.com", builtin_role_id("owner"))
    assert owner.email_verified_at is not None
    async with client_for(app, host_of(tenant)) as client:
        response = await client.post(
            "/api/v1/auth/token", json={"email": "boss@example.com", "password": PASSWORD}
        )
    assert response.status_code == 200


async def test_owner_without_a_password_gets_a_set_password_link(app, tenant_service, sync_db):
    tenant = tenant_service.create(slug=_slug(), name="Linked Co", owner_email="founder@example.com")
    owner = _owner(sync_db, tenant)
    assert owner.password_hash is None
    email = _set_password_email(sync_db, tenant.id)
    assert email["template"] == "set_password"
    assert email["to"] == ["founder@example.com"]
    assert email["context"]["tenant_name"] == "Linked Co"
    url = email["context"]["set_password_url"]
    assert url.startswith(f"https://{tenant.slug}.example.com/set-password?token=")
    async with client_for(app, host_of(tenant)) as client:
        before = await client.post(
            "/api/v1/auth/token", json={"email": "founder@example.com", "password": PASSWORD}
        )
        assert before.status_code == 401
        chosen = await client.post(
            "/api/v1/auth/reset-password", json={"token": token_in(url), "password": PASSWORD}
        )
        assert chosen.status_code == 204
        after = await client.post(
            "/api/v1/auth/token", json={"email": "founder@example.com", "password": PASSWORD}
        )
    assert after.status_code == 200


@pytest.mark.parametrize(("email", "password"), [("not-an-email", None), ("ok@example.com", "short")])
def test_bad_owner_details_create_nothing(tenant_service, sync_db, email, password):
    slug = _slug()
    with pytest.raises(AppError) as raised:
        tenant_service.create(slug=slug, name="Bad", owner_email=email, owner_password=password)
    assert raised.value.status_code == 422
    assert raised.value.code in ("invalid_owner_email", "invalid_password")
    with sync_db.sync_session() as session:
        assert session.scalar(select(Tenant).where(Tenant.slug == slug)) is None


@pytest.fixture
def run(run_cli):
    """platformctl, in-process (tests/conftest.py)."""
    return run_cli


def test_cli_creates_the_owner_from_the_environment(run, sync_db):
    slug = _slug()
    result = run(
        "tenants",
        "create",
        slug,
        "--owner-email",
        "ops@example.com",
        "--json",
        env={"OWNER_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 0, result.output
    tenant_id = uuid.UUID(json.loads(result.output)["id"])
    with sync_db.sync_session(f"t_{tenant_id.hex}") as session:
        owner = session.execute(select(User)).scalar_one()
    assert owner.password_hash is not None
    weak = run("tenants", "create", _slug(), "--owner-email", "ops@example.com", "--owner-password", "short")
    assert weak.exit_code == 1
    assert "invalid_password" in weak.output
    alone = run("tenants", "create", _slug(), "--owner-password", PASSWORD)
    assert alone.exit_code != 0


async def test_an_operator_gives_an_ownerless_tenant_an_owner(app, run, tenant_service, sync_db):
    tenant = tenant_service.create(slug=_slug(), name="Ownerless")
    added = run(
        "tenants", "add-owner", tenant.slug, "--email", "Rescue@Example.com", env={"OWNER_PASSWORD": PASSWORD}
    )
    assert added.exit_code == 0, added.output
    assert "can sign in now" in added.output
    owner = _owner(sync_db, tenant)
    assert (owner.email, owner.role_id) == ("rescue@example.com", builtin_role_id("owner"))
    async with client_for(app, host_of(tenant)) as client:
        signed_in = await client.post(
            "/api/v1/auth/token", json={"email": "rescue@example.com", "password": PASSWORD}
        )
    assert signed_in.status_code == 200
    with sync_db.sync_session(tenant.schema_name) as session:
        [entry] = session.execute(
            select(AuditEvent).where(AuditEvent.action == "tenant.owner_added")
        ).scalars()
    assert (entry.actor_type, entry.target_id, entry.details["created"]) == ("operator", str(owner.id), True)
    with sync_db.sync_session() as session:
        seats = (
            session.execute(
                select(OutboxMessage).where(
                    OutboxMessage.task_name == BILLING_SEATS_TASK, OutboxMessage.tenant_id == tenant.id
                )
            )
            .scalars()
            .all()
        )
    assert len(seats) == 1  # a per-seat subscription would follow the new member


def test_an_existing_member_is_promoted_and_keeps_their_password(tenant_service, sync_db):
    tenant = tenant_service.create(slug=_slug(), name="Promote")
    member = UserFactory.build(role_id=builtin_role_id("member"), email="staff@example.com")
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        session.add(member)
    with pytest.raises(AppError) as refused:
        tenant_service.add_owner(tenant.slug, email="staff@example.com", password=PASSWORD)
    assert (refused.value.status_code, refused.value.code) == (409, "owner_exists")
    added = tenant_service.add_owner(tenant.slug, email="Staff@example.com")
    assert (added.user_id, added.created, added.link_sent) == (member.id, False, False)
    with sync_db.sync_session(tenant.schema_name) as session:
        promoted = session.get_one(User, member.id)
    assert (promoted.role_id, promoted.password_hash) == (builtin_role_id("owner"), member.password_hash)


def test_a_new_owner_without_a_password_is_emailed_a_link_and_deleted_tenants_get_none(
    tenant_service, sync_db
):
    tenant = tenant_service.create(slug=_slug(), name="Linked")
    added = tenant_service.add_owner(tenant.slug, email="new@example.com")
    assert (added.created, added.link_sent) == (True, True)
    assert _set_password_email(sync_db, tenant.id)["to"] == ["new@example.com"]
    tenant_service.mark_deleted(tenant.slug)
    with pytest.raises(AppError) as refused:
        tenant_service.add_owner(tenant.slug, email="late@example.com")
    assert refused.value.code == "invalid_tenant_state"
