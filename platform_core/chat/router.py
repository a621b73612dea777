"""HTTP routes for chat rooms, their members and messages (chat:read to read, chat:write to change)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from platform_core.access.dependencies import ChatRead, ChatWrite
from platform_core.chat import service as chat_service
from platform_core.chat.exceptions import (
    AlreadyRoomMember,
    InvalidCursor,
    MessageDeleted,
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
    MAX_HISTORY,
    MessageCreate,
    MessageHistory,
    MessageRead,
    MessageUpdate,
    RoomCreate,
    RoomMemberAdd,
    RoomMemberPage,
    RoomPage,
    RoomRead,
    RoomUpdate,
)
from platform_core.kernel.errors import raises
from platform_core.kernel.paging import PageDep
from platform_core.kernel.tenancy import TenantSessionDep

router = APIRouter(prefix="/api/v1/chat/rooms", tags=["chat"])


@router.get("", response_model=RoomPage)
async def list_rooms(
    principal: ChatRead, session: TenantSessionDep, paging: PageDep, include_archived: bool = False
) -> RoomPage:
    """Rooms by name: the caller's, or every room for those who manage members (`members:manage`)."""
    return await chat_service.list_rooms(session, principal, include_archived=include_archived, paging=paging)


@router.post("", status_code=201, response_model=RoomRead)
async def create_room(principal: ChatWrite, body: RoomCreate, session: TenantSessionDep) -> ChatRoom:
    """Create a room; the caller is its first member."""
    return await chat_service.create_room(session, principal, body)


@router.get("/{room_id}", response_model=RoomRead)
@raises(RoomNotFound)
async def get_room(principal: ChatRead, room_id: uuid.UUID, session: TenantSessionDep) -> ChatRoom:
    """One room (its members, and those who manage members, see it)."""
    return await chat_service.visible_room(session, principal, room_id)


@router.patch("/{room_id}", response_model=RoomRead)
@raises(RoomNotFound, NotRoomManager, RoomArchived)
async def update_room(
    principal: ChatWrite, room_id: uuid.UUID, body: RoomUpdate, session: TenantSessionDep
) -> ChatRoom:
    """Rename the room or change its topic (its creator, or those who manage members)."""
    room = await chat_service.visible_room(session, principal, room_id, lock=True)
    return await chat_service.update_room(session, principal, room, body)


@router.post("/{room_id}/archive", response_model=RoomRead)
@raises(RoomNotFound, NotRoomManager)
async def archive_room(principal: ChatWrite, room_id: uuid.UUID, session: TenantSessionDep) -> ChatRoom:
    """Archive the room: its history stays readable, nothing more is posted."""
    room = await chat_service.visible_room(session, principal, room_id, lock=True)
    return await chat_service.set_archived(session, principal, room, archived=True)


@router.post("/{room_id}/unarchive", response_model=RoomRead)
@raises(RoomNotFound, NotRoomManager)
async def unarchive_room(principal: ChatWrite, room_id: uuid.UUID, session: TenantSessionDep) -> ChatRoom:
    """Bring an archived room back."""
    room = await chat_service.visible_room(session, principal, room_id, lock=True)
    return await chat_service.set_archived(session, principal, room, archived=False)


@router.get("/{room_id}/members", response_model=RoomMemberPage)
@raises(RoomNotFound)
async def list_members(
    principal: ChatRead, room_id: uuid.UUID, session: TenantSessionDep, paging: PageDep
) -> RoomMemberPage:
    """The room's members, by email."""
    room = await chat_service.visible_room(session, principal, room_id)
    return await chat_service.list_members(session, room, paging)


@router.post("/{room_id}/members", status_code=204)
@raises(RoomNotFound, RoomArchived, UnknownUser, AlreadyRoomMember)
async def add_member(
    principal: ChatWrite, room_id: uuid.UUID, body: RoomMemberAdd, session: TenantSessionDep
) -> None:
    """Add a member of the workspace to the room (a member of the room, or those who manage members)."""
    room = await chat_service.visible_room(session, principal, room_id, lock=True)
    await chat_service.add_member(session, principal, room, body.user_id)


@router.delete("/{room_id}/members/{user_id}", status_code=204)
@raises(RoomNotFound, RoomMemberNotFound, NotRoomManager)
async def remove_member(
    principal: ChatWrite, room_id: uuid.UUID, user_id: uuid.UUID, session: TenantSessionDep
) -> None:
    """Remove a member: oneself (leave), or anyone by the room's creator or those who manage members."""
    room = await chat_service.visible_room(session, principal, room_id, lock=True)
    await chat_service.remove_member(session, principal, room, user_id)


@router.get("/{room_id}/messages", response_model=MessageHistory)
@raises(RoomNotFound, InvalidCursor)
async def list_messages(
    principal: ChatRead,
    room_id: uuid.UUID,
    session: TenantSessionDep,
    before: Annotated[
        uuid.UUID | None,
        Query(description="The cursor: `next_before` of the previous page (a message id of this room)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY, description="Messages per page, 1-100.")] = 50,
) -> MessageHistory:
    """The room's history, newest first (members only); deleted messages are tombstones."""
    room = await chat_service.member_room(session, principal, room_id)
    return await chat_service.history(session, room, before=before, limit=limit)


@router.post("/{room_id}/messages", status_code=201, response_model=MessageRead)
@raises(RoomNotFound, RoomArchived)
async def post_message(
    principal: ChatWrite, room_id: uuid.UUID, body: MessageCreate, session: TenantSessionDep
) -> ChatMessage:
    """Post a message (members only): at most 4,000 characters, not only whitespace."""
    room = await chat_service.member_room(session, principal, room_id)
    return await chat_service.post_message(session, principal, room, body.body)


@router.patch("/{room_id}/messages/{message_id}", response_model=MessageRead)
@raises(RoomNotFound, MessageNotFound, NotAuthor, RoomArchived, MessageDeleted)
async def edit_message(
    principal: ChatWrite,
    room_id: uuid.UUID,
    message_id: uuid.UUID,
    body: MessageUpdate,
    session: TenantSessionDep,
) -> ChatMessage:
    """Change the text of one's own message."""
    room = await chat_service.member_room(session, principal, room_id)
    return await chat_service.edit_message(session, principal, room, message_id, body.body)


@router.delete("/{room_id}/messages/{message_id}", status_code=204)
@raises(RoomNotFound, MessageNotFound, NotAuthor, RoomArchived)
async def delete_message(
    principal: ChatWrite, room_id: uuid.UUID, message_id: uuid.UUID, session: TenantSessionDep
) -> None:
    """Delete one's own message: its text is erased; a tombstone keeps its place in the history."""
    room = await chat_service.member_room(session, principal, room_id)
    await chat_service.delete_message(session, principal, room, message_id)
