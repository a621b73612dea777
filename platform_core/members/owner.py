"""A tenant's owners as operators make them: with a new tenant, or later for a tenant left without one.

What a new schema starts with beyond the built-in roles its DDL inserts (the owner's account, when
given, with a set-password link when no password was given), and `add_owner`, which promotes the user
with an address or creates the account. Sync functions on the caller's session (the CLI's, or the operator
request's through `run_sync`) that never commit; tenant tables are reached through
`in_schema(session, tenant.schema_name)` in the members' repository, since the session is the
platform's (`public`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from billing.seats import SEATS_TASK
from platform_core.access.cache import auth_changed_sync
from platform_core.access.models import LinkPurpose
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.errors import Conflict, Unprocessable
from platform_core.kernel.outbox import enqueue
from platform_core.kernel.security.passwords import hash_password, hash_password_async
from platform_core.kernel.security.tokens import hash_opaque_token, new_opaque_token
from platform_core.kernel.settings import Settings
from platform_core.members import repository as member_repository
from tenants.models import Tenant
from workers.email.tasks import send_email_later


class InvalidOwnerEmail(Unprocessable):
    """The owner's email address is not valid."""

    code = "invalid_owner_email"


class OwnerExists(Conflict):
    """The address already has an account: an operator may promote it, not set its password."""

    code = "owner_exists"


@dataclass
class OwnerAccount:
    """An owner to create or promote; `link_token` is set when a set-password link is needed."""

    email: str
    password_hash: str | None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    link_token: str | None = None


@dataclass(frozen=True)
class OwnerAdded:
    """What `add_owner` did."""

    user_id: uuid.UUID
    email: str
    created: bool  # a new account (else an existing user was promoted)
    link_sent: bool  # a set-password link was emailed


def _normalized(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidOwnerEmail(f"The owner email is not valid: {exc}", details={"email": email}) from exc


def prepare_owner(email: str, password: str | None) -> OwnerAccount:
    """Validate the owner's email and hash their password (before any transaction starts)."""
    address = _normalized(email)
    return OwnerAccount(email=address, password_hash=hash_password(password) if password else None)


async def prepare_owner_async(email: str, password: str | None) -> OwnerAccount:
    """`prepare_owner` for the API: the hash is computed in a hashing thread, off the event loop."""
    address = _normalized(email)
    return OwnerAccount(
        email=address, password_hash=await hash_password_async(password) if password else None
    )


def seed_schema(session: Session, tenant: Tenant, *, owner: OwnerAccount | None, settings: Settings) -> None:
    """Fill a new tenant's schema with its owner, when given (a SchemaSeed; the built-in roles come with
    the schema itself: tenants/schema_ddl.py)."""
    if owner is not None:
        _insert_owner(session, tenant, owner, settings)
        if owner.password_hash is None:
            send_set_password_email(session, settings=settings, tenant=tenant, owner=owner)


def add_owner(session: Session, *, settings: Settings, tenant: Tenant, owner: OwnerAccount) -> OwnerAdded:
    """Make `owner` an owner of the tenant: promote the user with that address, or create the account.

    The caller has locked the tenant's row and checked it may get an owner. A new account signs in
    with its password, or is emailed a set-password link; an existing one keeps its password (given
    one, this refuses with OwnerExists: they reset their own). A per-seat subscription is re-counted
    (billing's task decides whether the plan is per seat); seat limits do not bind operators.
    """
    existing = member_repository.find_user_id_by_email(session, schema=tenant.schema_name, email=owner.email)
    if existing is not None and owner.password_hash is not None:
        raise OwnerExists(
            f"{owner.email} already has an account: it is promoted without a password; "
            "they can reset theirs.",
            details={"email": owner.email},
        )
    if existing is None:
        _insert_owner(session, tenant, owner, settings)
        if owner.password_hash is None:
            send_set_password_email(session, settings=settings, tenant=tenant, owner=owner)
        enqueue(session, SEATS_TASK, tenant_id=tenant.id)
        user_id, created = owner.id, True
    else:
        member_repository.promote_to_owner(session, schema=tenant.schema_name, user_id=existing)
        user_id, created = existing, False
    auth_changed_sync(session, tenant.id)
    return OwnerAdded(
        user_id=user_id, email=owner.email, created=created, link_sent=owner.link_token is not None
    )


def send_set_password_email(
    session: Session, *, settings: Settings, tenant: Tenant, owner: OwnerAccount
) -> None:
    """Queue the owner's set-password email in the caller's transaction (it leaves only if that commits)."""
    assert owner.link_token is not None
    send_email_later(
        session,
        to=owner.email,
        template="set_password",
        context={
            "tenant_name": tenant.name,
            "set_password_url": settings.tenant_url(tenant.slug, f"/set-password?token={owner.link_token}"),
            "expires_in_hours": settings.set_password_ttl_hours,
        },
        tenant_id=tenant.id,
    )


def _insert_owner(session: Session, tenant: Tenant, owner: OwnerAccount, settings: Settings) -> None:
    """Insert an owner account; without a password, a set-password link token (owner.link_token)."""
    now = utcnow()
    member_repository.insert_owner(
        session,
        schema=tenant.schema_name,
        user_id=owner.id,
        email=owner.email,
        password_hash=owner.password_hash,
        now=now,
    )
    if owner.password_hash is None:
        owner.link_token = new_opaque_token()
        member_repository.insert_link_token(
            session,
            schema=tenant.schema_name,
            user_id=owner.id,
            purpose=LinkPurpose.SET_PASSWORD.value,
            token_hash=hash_opaque_token(owner.link_token),
            expires_at=now + timedelta(hours=settings.set_password_ttl_hours),
        )
