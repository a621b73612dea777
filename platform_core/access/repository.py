"""The access layer's queries: the principal's one query (a user's or an API key's state), and the seats
taken (users and open invitations), which sign-up, invitations and billing all count.

The statements of the principal are built once at import: building one costs more CPU than running it
(bench/auth_overhead.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.models import ApiKey, Invitation, RefreshToken, Role, User

_SESSION_REVOKED = exists().where(
    RefreshToken.family_id == bindparam("session_id"), RefreshToken.revoked_at.is_not(None)
)
_USER_STATE = (
    select(User.email, Role.name, Role.builtin, Role.permissions)
    .join(Role, Role.id == User.role_id)
    .where(User.id == bindparam("user_id"), User.is_active.is_(True), ~_SESSION_REVOKED)
)
_API_KEY_STATE = (
    select(
        ApiKey.id,
        ApiKey.name,
        ApiKey.scopes,
        ApiKey.expires_at,
        ApiKey.revoked_at,
        ApiKey.last_used_at,
        User.id,
        User.email,
        Role.name,
        Role.builtin,
        Role.permissions,
    )
    .join(User, User.id == ApiKey.created_by_id)
    .join(Role, Role.id == User.role_id)
    .where(ApiKey.secret_hash == bindparam("secret_hash"), User.is_active.is_(True))
)


async def user_state(
    session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[Any, ...] | None:
    """(email, role name, built-in, stored permissions) of an active user whose session is not revoked."""
    row = (await session.execute(_USER_STATE, {"user_id": user_id, "session_id": session_id})).first()
    return tuple(row) if row is not None else None


async def api_key_state(session: AsyncSession, *, secret_hash: str) -> tuple[Any, ...] | None:
    """(key id, name, scopes, expires, revoked, last used, user id, email, role name, built-in, stored
    permissions) of the key with this hash, when its creator is active."""
    row = (await session.execute(_API_KEY_STATE, {"secret_hash": secret_hash})).first()
    return tuple(row) if row is not None else None


async def touch_api_key(session: AsyncSession, *, key_id: uuid.UUID, at: datetime) -> None:
    """Record when a key was last used."""
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))


def open_invitation() -> list[ColumnElement[bool]]:
    """The conditions of an invitation neither accepted nor revoked (it may have expired)."""
    return [Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)]


async def seats_used(session: AsyncSession) -> int:
    """Members plus open, unexpired invitations: each holds a seat of the plan."""
    members = select(func.count()).select_from(User).scalar_subquery()
    pending = (
        select(func.count())
        .select_from(Invitation)
        .where(*open_invitation(), Invitation.expires_at > func.now())
        .scalar_subquery()
    )
    return int((await session.execute(select(members + pending))).scalar_one())
