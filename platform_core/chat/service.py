"""Chat rules: who sees and changes which room, messages and their history, and the realtime events.

Services never commit: the request does, once. Every change writes its realtime event for the channel
`chat.<room_id>` into the tenant's `chat_event` table and an outbox task (`chat.publish`) in the same
transaction; a worker publishes the room's events to the Redis stream in order once that commits
(tasks.py). A rolled-back change publishes nothing, and a committed one is never lost.

Who may do what (besides the route's permission, `chat:read` or `chat:write`):
- a room's members read and post; a room is not found (404) for anyone else, except that those who
  manage members (`members:manage`: owners and admins) see every room, its members, and may manage it,
  but read or post its messages only once they are members too (404 for the messages otherwise);
- any member with `chat:write` adds members; the room's creator and managers rename, archive and
  unarchive it and remove others; everyone may leave;
- only a message's author edits or deletes it (403 otherwise);
- an archived room takes no message and no change but unarchiving (409).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.dependencies import PermissionDenied
from platform_core.access.permissions import Permission
from platform_core.access.principal import Principal
from platform_core.chat import repository as chat_repository
from platform_core.chat.exceptions import (
    AlreadyRoomMember,
    InvalidCursor,
    MessageDeleted,
    MessageInvalid,
    MessageNotFound,
    NotAuthor,
    NotRoomManager,
    RoomArchived,
    RoomMemberNotFound,
    RoomNotFound,
    UnknownUser,
)
from platform_core.chat.models import ChatMessage, ChatRoom
from platform_core.chat.schemas import (
    MessageCreate,
    MessageHistory,
    MessageRead,
    RoomCreate,
    RoomMemberPage,
    RoomMemberRead,
    RoomPage,
    RoomRead,
    RoomUpdate,
)
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.outbox import enqueue_async
from platform_core.kernel.paging import PageParams

PUBLISH_TASK = "chat.publish"
MANAGE = Permission.MEMBERS_MANAGE


def channel(room_id: uuid.UUID | str) -> str:
    """The realtime channel of a room."""
    return f"chat.{room_id}"


def manages_chat(principal: Principal) -> bool:
    """Whether the caller manages every room (sees them all, renames, archives, removes members)."""
    return principal.can(MANAGE)


def may_manage(principal: Principal, room: ChatRoom) -> bool:
    """Whether the caller may rename, archive or remove others from this room."""
    return manages_chat(principal) or room.created_by_id == principal.user_id


async def _publish(
    session: AsyncSession, principal: Principal, room_id: uuid.UUID, event: str, data: dict[str, Any]
) -> None:
    """Write the event for `chat.<room_id>`; the worker publishes it after this transaction commits."""
    await chat_repository.add_event(session, room_id, event, data)
    await enqueue_async(session, PUBLISH_TASK, tenant_id=principal.tenant_id, room_id=str(room_id))


def _room_data(room: ChatRoom) -> dict[str, Any]:
    return RoomRead.model_validate(room).model_dump(mode="json")


def _message_data(message: ChatMessage) -> dict[str, Any]:
    return MessageRead.model_validate(message).model_dump(mode="json")


# --- rooms --------------------------------------------------------------------------------------------


async def list_rooms(
    session: AsyncSession, principal: Principal, *, include_archived: bool, paging: PageParams
) -> RoomPage:
    """A page of rooms by name: the caller's, or every room for those who manage."""
    member = None if manages_chat(principal) else principal.user_id
    rows, total = await chat_repository.list_rooms(
        session, member=member, include_archived=include_archived, paging=paging
    )
    return RoomPage.of([RoomRead.model_validate(r) for r in rows], total, paging)


async def visible_room(
    session: AsyncSession, principal: Principal, room_id: uuid.UUID, *, lock: bool = False
) -> ChatRoom:
    """A room the caller may see (a member, or one who manages); 404 otherwise."""
    room = await chat_repository.get_room(session, room_id, lock=lock)
    if room is None:
        raise RoomNotFound
    if not manages_chat(principal) and not await chat_repository.is_member(
        session, room.id, principal.user_id
    ):
        raise RoomNotFound
    return room


async def member_room(
    session: AsyncSession, principal: Principal, room_id: uuid.UUID, *, lock: bool = False
) -> ChatRoom:
    """A room the caller is a member of (to read or post messages); 404 otherwise."""
    room = await chat_repository.get_room(session, room_id, lock=lock)
    if room is None or not await chat_repository.is_member(session, room.id, principal.user_id):
        raise RoomNotFound
    return room


async def create_room(session: AsyncSession, principal: Principal, body: RoomCreate) -> ChatRoom:
    """Create a room; the caller is its first member."""
    room = await chat_repository.add_room(
        session, ChatRoom(name=body.name, topic=body.topic, created_by_id=principal.user_id)
    )
    await chat_repository.add_member(session, room.id, principal.user_id)
    await _publish(session, principal, room.id, "room.created", _room_data(room))
    return room


def _check_active(room: ChatRoom) -> None:
    if room.archived_at is not None:
        raise RoomArchived


async def update_room(
    session: AsyncSession, principal: Principal, room: ChatRoom, body: RoomUpdate
) -> ChatRoom:
    """Rename the room or change its topic (its creator, or one who manages)."""
    if not may_manage(principal, room):
        raise NotRoomManager
    _check_active(room)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        return room
    for field, value in changes.items():
        setattr(room, field, value)
    room = await chat_repository.save(session, room)
    await _publish(session, principal, room.id, "room.updated", _room_data(room))
    return room


async def set_archived(
    session: AsyncSession, principal: Principal, room: ChatRoom, *, archived: bool
) -> ChatRoom:
    """Archive or unarchive the room (its creator, or one who manages); doing it twice changes nothing."""
    if not may_manage(principal, room):
        raise NotRoomManager
    if (room.archived_at is not None) == archived:
        return room
    room.archived_at = utcnow() if archived else None
    room = await chat_repository.save(session, room)
    await _publish(
        session, principal, room.id, "room.archived" if archived else "room.unarchived", _room_data(room)
    )
    return room


# --- members ------------------------------------------------------------------------------------------


async def list_members(session: AsyncSession, room: ChatRoom, paging: PageParams) -> RoomMemberPage:
    """A page of the room's members, by email."""
    rows, total = await chat_repository.list_members(session, room.id, paging)
    items = [
        RoomMemberRead(user_id=r.user_id, email=r.email, full_name=r.full_name, added_at=r.added_at)
        for r in rows
    ]
    return RoomMemberPage.of(items, total, paging)


async def add_member(session: AsyncSession, principal: Principal, room: ChatRoom, user_id: uuid.UUID) -> None:
    """Add an active user of the workspace (by a member of the room, or one who manages)."""
    _check_active(room)
    if not manages_chat(principal) and not await chat_repository.is_member(
        session, room.id, principal.user_id
    ):
        raise RoomNotFound
    if not await chat_repository.active_user_exists(session, user_id):
        raise UnknownUser(details={"field": "user_id"})
    if not await chat_repository.add_member(session, room.id, user_id):
        raise AlreadyRoomMember
    await _publish(
        session, principal, room.id, "member.added", {"room_id": str(room.id), "user_id": str(user_id)}
    )


async def remove_member(
    session: AsyncSession, principal: Principal, room: ChatRoom, user_id: uuid.UUID
) -> None:
    """Remove a member (themselves, or anyone by the room's creator or one who manages)."""
    if user_id != principal.user_id and not may_manage(principal, room):
        raise NotRoomManager
    if not await chat_repository.remove_member(session, room.id, user_id):
        raise RoomMemberNotFound
    await _publish(
        session, principal, room.id, "member.removed", {"room_id": str(room.id), "user_id": str(user_id)}
    )


# --- messages -----------------------------------------------------------------------------------------


async def history(
    session: AsyncSession, room: ChatRoom, *, before: uuid.UUID | None, limit: int
) -> MessageHistory:
    """Up to `limit` messages, newest first, older than the message `before` when given."""
    before_seq = None
    if before is not None:
        before_seq = await chat_repository.message_seq(session, room.id, before)
        if before_seq is None:
            raise InvalidCursor(details={"field": "before"})
    rows = await chat_repository.history(session, room.id, before_seq=before_seq, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return MessageHistory(
        items=[MessageRead.model_validate(m) for m in rows], next_before=rows[-1].id if more else None
    )


async def post_message(session: AsyncSession, principal: Principal, room: ChatRoom, body: str) -> ChatMessage:
    """Post a message in the room (the caller is a member)."""
    _check_active(room)
    message = await chat_repository.add_message(
        session, ChatMessage(room_id=room.id, author_id=principal.user_id, body=body)
    )
    await _publish(session, principal, room.id, "message.created", _message_data(message))
    return message


async def own_message(
    session: AsyncSession, principal: Principal, room: ChatRoom, message_id: uuid.UUID, *, lock: bool = False
) -> ChatMessage:
    """A message of this room written by the caller (404 if none, 403 if someone else's)."""
    message = await chat_repository.get_message(session, room.id, message_id, lock=lock)
    if message is None:
        raise MessageNotFound
    if message.author_id != principal.user_id:
        raise NotAuthor
    return message


async def edit_message(
    session: AsyncSession, principal: Principal, room: ChatRoom, message_id: uuid.UUID, body: str
) -> ChatMessage:
    """Change the text of one's own message."""
    _check_active(room)
    message = await own_message(session, principal, room, message_id, lock=True)
    if message.deleted_at is not None:
        raise MessageDeleted
    message.body = body
    message.edited_at = utcnow()
    message = await chat_repository.save(session, message)
    await _publish(session, principal, room.id, "message.updated", _message_data(message))
    return message


async def delete_message(
    session: AsyncSession, principal: Principal, room: ChatRoom, message_id: uuid.UUID
) -> None:
    """Delete one's own message: its text is erased and a tombstone keeps its place in the history."""
    _check_active(room)
    message = await own_message(session, principal, room, message_id, lock=True)
    if message.deleted_at is not None:
        return
    message.body = None
    message.deleted_at = utcnow()
    message = await chat_repository.save(session, message)
    await _publish(session, principal, room.id, "message.deleted", _message_data(message))


# --- for the console's room page ---------------------------------------------------------------------


async def is_member(session: AsyncSession, principal: Principal, room: ChatRoom) -> bool:
    """Whether the caller is a member of the room."""
    return await chat_repository.is_member(session, room.id, principal.user_id)


async def author_names(session: AsyncSession, messages: list[MessageRead]) -> dict[uuid.UUID, str]:
    """The display names of the messages' authors (those still in the workspace)."""
    return await chat_repository.user_names(
        session, [m.author_id for m in messages if m.author_id is not None]
    )


async def member_names(
    session: AsyncSession, room: ChatRoom, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The display names of those of `user_ids` who are members of the room (others are left out)."""
    members = [u for u in dict.fromkeys(user_ids) if await chat_repository.is_member(session, room.id, u)]
    return await chat_repository.user_names(session, members)


async def addable_users(session: AsyncSession, room: ChatRoom, *, limit: int) -> list[Any]:
    """Active users of the workspace not in the room (id, full_name, email), by email."""
    return await chat_repository.addable_users(session, room.id, limit=limit)


# --- realtime -----------------------------------------------------------------------------------------


async def send_message(session: AsyncSession, principal: Principal, room_id: str, body: str) -> ChatMessage:
    """Post a message sent over the realtime socket, with every rule of `POST .../messages`: chat:write
    (PermissionDenied), a member of the room (RoomNotFound, also for a malformed id), not archived
    (RoomArchived), 1-4,000 characters not only whitespace (pydantic's ValidationError). The caller
    commits; the `message.created` event then goes out like a REST post's."""
    if not principal.can(Permission.CHAT_WRITE):
        raise PermissionDenied(
            "This needs the `chat:write` permission.", details={"permission": Permission.CHAT_WRITE.value}
        )
    text = MessageCreate.model_validate({"body": body}).body
    try:
        key = uuid.UUID(room_id)
    except (ValueError, TypeError, AttributeError) as exc:
        raise RoomNotFound from exc
    room = await member_room(session, principal, key)
    return await post_message(session, principal, room, text)


async def can_subscribe(session: AsyncSession, principal: Principal, room_id: str) -> bool:
    """Whether the caller may subscribe to `chat.<room_id>`: holds chat:read and is a member of the room
    (archived or not) in the session's tenant. A malformed or unknown id is False, never an error."""
    if not principal.can(Permission.CHAT_READ):
        return False
    try:
        key = uuid.UUID(room_id)
    except (ValueError, TypeError, AttributeError):
        return False
    room = await chat_repository.get_room(session, key)
    return room is not None and await chat_repository.is_member(session, room.id, principal.user_id)


async def can_send_typing(session: AsyncSession, principal: Principal, room_id: str) -> bool:
    """Whether the caller may send ephemeral events (typing) to `chat.<room_id>`: a member who may write."""
    return principal.can(Permission.CHAT_WRITE) and await can_subscribe(session, principal, room_id)


async def store_socket_message(
    session: AsyncSession, principal: Principal, room_id: str, data: object
) -> dict[str, object]:
    """A `message` sent on `chat.<room_id>` over the socket (`{"body": ...}`): stored by `send_message`;
    what the client's acknowledgement carries. Bad input is a 422 error, never an exception."""
    body = data.get("body") if isinstance(data, dict) else None
    if not isinstance(body, str):
        raise MessageInvalid('A message is `{"body": "..."}`.', details={"field": "body"})
    try:
        message = await send_message(session, principal, room_id, body)
    except ValidationError as exc:
        raise MessageInvalid(
            exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, "), details={"field": "body"}
        ) from exc
    return {"id": str(message.id), "created_at": message.created_at.isoformat()}
