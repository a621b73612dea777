"""What a new tenant schema starts with: the built-in roles and, when given, its owner account; and
owners added later by an operator."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from platform_core.access.models import LinkPurpose, OneTimeToken, Role, User
from platform_core.access.permissions import builtin_role_id, builtin_role_rows
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.errors import Unprocessable
from platform_core.kernel.security.passwords import hash_password
from platform_core.kernel.security.tokens import hash_opaque_token, new_opaque_token
from platform_core.kernel.settings import Settings
from tenants.models import Tenant
from workers.email.tasks import send_email_later


class InvalidOwnerEmail(Unprocessable):
    """The owner's email address is not valid."""

    code = "invalid_owner_email"


@dataclass
class OwnerAccount:
    """The owner to create with a tenant; `link_token` is set when a set-password link is needed."""

    email: str
    password_hash: str | None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    link_token: str | None = None


def prepare_owner(email: str, password: str | None) -> OwnerAccount:
    """Validate the owner's email and hash their password (before any transaction starts)."""
    try:
        normalized = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidOwnerEmail(f"The owner email is not valid: {exc}", details={"email": email}) from exc
    return OwnerAccount(email=normalized, password_hash=hash_password(password) if password else None)


def seed_tenant_schema(conn: Connection, owner: OwnerAccount | None, settings: Settings) -> None:
    """Insert the built-in roles and the owner into a new schema (`conn` is bound to it)."""
    conn.execute(insert(Role), builtin_role_rows())
    if owner is not None:
        insert_owner(conn, owner, settings)


def insert_owner(conn: Connection, owner: OwnerAccount, settings: Settings) -> None:
    """Insert an owner account (`conn` is bound to the tenant's schema); without a password, a
    set-password link token is made (owner.link_token) for send_set_password_email."""
    now = utcnow()
    conn.execute(
        insert(User).values(
            id=owner.id,
            email=owner.email,
            full_name="",
            password_hash=owner.password_hash,
            role_id=builtin_role_id("owner"),
            is_active=True,
            # A password given by the operator vouches for the address; otherwise the emailed
            # set-password link proves it when it is used.
            email_verified_at=now if owner.password_hash else None,
            password_changed_at=now if owner.password_hash else None,
        )
    )
    if owner.password_hash is None:
        owner.link_token = new_opaque_token()
        conn.execute(
            insert(OneTimeToken).values(
                id=uuid.uuid4(),
                user_id=owner.id,
                purpose=LinkPurpose.SET_PASSWORD.value,
                token_hash=hash_opaque_token(owner.link_token),
                expires_at=now + timedelta(hours=settings.set_password_ttl_hours),
            )
        )


def send_set_password_email(
    session: Session, settings: Settings, tenant: Tenant, owner: OwnerAccount
) -> None:
    """Queue the owner's set-password email in the provisioning transaction."""
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
