"""All chat queries. The session is bound to one tenant's schema; no query here names a schema."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Bundle, Session

from platform_core.access.models import User
from platform_core.chat.models import ChatEvent, ChatMessage, ChatRoom, ChatRoomMember
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page, get_by_id, insert, rowcount, write


def _member_of(user_id: uuid.UUID) -> Any:
    return exists().where(ChatRoomMember.room_id == ChatRoom.id, ChatRoomMember.user_id == user_id)


async def list_rooms(
    session: AsyncSession, *, member: uuid.UUID | None, include_archived: bool, paging: PageParams
) -> tuple[list[ChatRoom], int]:
    """One page of rooms by name: those `member` belongs to, or every room when `member` is None."""
    stmt = select(ChatRoom)
    if member is not None:
        stmt = stmt.where(_member_of(member))
    if not include_archived:
        stmt = stmt.where(ChatRoom.archived_at.is_(None))
    return await fetch_page(session, stmt.order_by(ChatRoom.name, ChatRoom.id), paging=paging)


async def get_room(session: AsyncSession, room_id: uuid.UUID, *, lock: bool = False) -> ChatRoom | None:
    """A room by id (locked when asked)."""
    return await get_by_id(session, ChatRoom, room_id, lock=lock)


async def is_member(session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether the user is a member of the room."""
    stmt = select(exists().where(ChatRoomMember.room_id == room_id, ChatRoomMember.user_id == user_id))
    return bool(await session.scalar(stmt))


async def add_room(session: AsyncSession, room: ChatRoom) -> ChatRoom:
    """Insert a room now, timestamps read back."""
    return await insert(session, room)


async def save(session: AsyncSession, row: Any) -> Any:
    """Write pending changes now and read the row back."""
    return await write(session, row)


async def add_member(session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Make the user a member; False if they already were (a concurrent add included)."""
    stmt = (
        pg_insert(ChatRoomMember)
        .values(room_id=room_id, user_id=user_id)
        .on_conflict_do_nothing(index_elements=[ChatRoomMember.room_id, ChatRoomMember.user_id])
        .returning(ChatRoomMember.user_id)
    )
    return (await session.execute(stmt)).first() is not None


async def remove_member(session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """End a membership; False if there was none."""
    stmt = delete(ChatRoomMember).where(ChatRoomMember.room_id == room_id, ChatRoomMember.user_id == user_id)
    return rowcount(await session.execute(stmt)) > 0


async def list_members(
    session: AsyncSession, room_id: uuid.UUID, paging: PageParams
) -> tuple[list[Any], int]:
    """One page of a room's members (user_id, email, full_name, added_at), by email."""
    member: Bundle[Any] = Bundle(
        "member", ChatRoomMember.user_id, User.email, User.full_name, ChatRoomMember.added_at
    )
    stmt = (
        select(member)
        .join(User, User.id == ChatRoomMember.user_id)
        .where(ChatRoomMember.room_id == room_id)
        .order_by(User.email)
    )
    return await fetch_page(session, stmt, paging=paging)


async def active_user_exists(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether an active user of this tenant has this id."""
    stmt = select(exists().where(User.id == user_id, User.is_active.is_(True)))
    return bool(await session.scalar(stmt))


async def addable_users(session: AsyncSession, room_id: uuid.UUID, *, limit: int) -> list[Any]:
    """Active users of the workspace who are not in the room (id, full_name, email), by email."""
    in_room = exists().where(ChatRoomMember.room_id == room_id, ChatRoomMember.user_id == User.id)
    stmt = (
        select(User.id, User.full_name, User.email)
        .where(User.is_active.is_(True), ~in_room)
        .order_by(User.email)
        .limit(limit)
    )
    return list(await session.execute(stmt))


async def user_names(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Display names (the full name, else the email) of these users."""
    if not user_ids:
        return {}
    stmt = select(User.id, User.full_name, User.email).where(User.id.in_(set(user_ids)))
    return {row.id: row.full_name or row.email for row in await session.execute(stmt)}


async def get_message(
    session: AsyncSession, room_id: uuid.UUID, message_id: uuid.UUID, *, lock: bool = False
) -> ChatMessage | None:
    """A message of this room (locked when asked)."""
    stmt = select(ChatMessage).where(ChatMessage.id == message_id, ChatMessage.room_id == room_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(stmt)).first()


async def add_message(session: AsyncSession, message: ChatMessage) -> ChatMessage:
    """Insert a message now, its `seq` and `created_at` read back."""
    return await insert(session, message)


async def message_seq(session: AsyncSession, room_id: uuid.UUID, message_id: uuid.UUID) -> int | None:
    """The position of a message of this room in its history."""
    stmt = select(ChatMessage.seq).where(ChatMessage.id == message_id, ChatMessage.room_id == room_id)
    return await session.scalar(stmt)


async def history(
    session: AsyncSession, room_id: uuid.UUID, *, before_seq: int | None, limit: int
) -> list[ChatMessage]:
    """Up to `limit` messages of the room, newest first, older than `before_seq` when given."""
    stmt = select(ChatMessage).where(ChatMessage.room_id == room_id)
    if before_seq is not None:
        stmt = stmt.where(ChatMessage.seq < before_seq)
    return list(await session.scalars(stmt.order_by(ChatMessage.seq.desc()).limit(limit)))


async def add_event(session: AsyncSession, room_id: uuid.UUID, event: str, data: dict[str, Any]) -> None:
    """Write a realtime event for the room in this transaction (published once it commits)."""
    session.add(ChatEvent(room_id=room_id, event=event, data=data))
    await session.flush()


# --- the publisher (sync: it runs in a worker) ---------------------------------------------------------


def lock_room_events(session: Session, key: str) -> None:
    """Hold the room's publishing lock until the transaction ends: one publisher per room, in order."""
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


def pending_events(session: Session, room_id: uuid.UUID, *, limit: int) -> list[ChatEvent]:
    """The room's committed, unpublished events, oldest first."""
    stmt = select(ChatEvent).where(ChatEvent.room_id == room_id).order_by(ChatEvent.seq).limit(limit)
    return list(session.scalars(stmt))


def delete_events(session: Session, seqs: Sequence[int]) -> None:
    """Forget published events."""
    if seqs:
        session.execute(delete(ChatEvent).where(ChatEvent.seq.in_(list(seqs))))
