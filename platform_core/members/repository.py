"""The members' queries that operators run on a tenant's schema from a session on `public`.

The CLI's session, or the operator request's (through `run_sync`), is the platform's: every function
here reaches the tenant's tables through `in_schema(session, schema)`, the one named way out of a
session's schema. Nothing here commits: the command or the request owns the transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from platform_core.access.models import OneTimeToken, User
from platform_core.access.permissions import builtin_role_id
from platform_core.kernel.db.binding import in_schema

OWNER_ROLE_ID = builtin_role_id("owner")


def find_user_id_by_email(session: Session, *, schema: str, email: str) -> uuid.UUID | None:
    """Return the id of the tenant's user with this (normalized) address, if any."""
    stmt = select(User.id).where(User.email == email)
    return in_schema(session, schema).execute(stmt).scalar_one_or_none()


def promote_to_owner(session: Session, *, schema: str, user_id: uuid.UUID) -> None:
    """Make a tenant's user an active owner."""
    in_schema(session, schema).execute(
        update(User).where(User.id == user_id).values(role_id=OWNER_ROLE_ID, is_active=True)
    )


def insert_owner(
    session: Session,
    *,
    schema: str,
    user_id: uuid.UUID,
    email: str,
    password_hash: str | None,
    now: datetime,
) -> None:
    """Insert an active owner account into a tenant schema."""
    in_schema(session, schema).execute(
        insert(User).values(
            id=user_id,
            email=email,
            full_name="",
            password_hash=password_hash,
            role_id=OWNER_ROLE_ID,
            is_active=True,
            # A password given by the operator vouches for the address; otherwise the emailed
            # set-password link proves it when it is used.
            email_verified_at=now if password_hash else None,
            password_changed_at=now if password_hash else None,
        )
    )


def insert_link_token(
    session: Session,
    *,
    schema: str,
    user_id: uuid.UUID,
    purpose: str,
    token_hash: str,
    expires_at: datetime,
) -> None:
    """Insert a one-time link token (its hash) for a tenant's user."""
    in_schema(session, schema).execute(
        insert(OneTimeToken).values(
            id=uuid.uuid4(),
            user_id=user_id,
            purpose=purpose,
            token_hash=token_hash,
            expires_at=expires_at,
        )
    )
