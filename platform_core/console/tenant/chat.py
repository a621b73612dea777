"""The tenant console's chat: the rooms, a room with its history, and posting (plain forms, no script).

Each page calls the chat service exactly as `/api/v1/chat/rooms` does, behind the same gates (chat:read
to look, chat:write to post or change), and forms are validated by the API's own schemas.

A member's room page follows the room live (`static/chat.js`): `POST /chat/{id}/live` gives the script a
realtime ticket, the script subscribes to `chat.<room_id>` from the stream position the page was
rendered at (so nothing posted in between is missed), shows new, edited and deleted messages in place
and who is typing, and sends its own typing events. Without JavaScript a reload shows new messages.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import Depends, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import RedisError

from platform_core.access.permissions import Permission
from platform_core.chat import service as chat_service
from platform_core.chat.exceptions import AlreadyRoomMember, InvalidCursor, MessageDeleted, UnknownUser
from platform_core.chat.models import ChatMessage, ChatRoom
from platform_core.chat.schemas import (
    MessageCreate,
    MessageHistory,
    MessageUpdate,
    RoomCreate,
    RoomMemberAdd,
    RoomUpdate,
)
from platform_core.console.forms import claim_submission, errors_by_field, new_nonce, release_submission
from platform_core.console.templating import render
from platform_core.console.tenant.lists import paging_of
from platform_core.console.tenant.pages import TenantPage, permission_page, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.kernel.paging import PageParams
from platform_core.kernel.realtime import stream_key
from platform_core.realtime import tickets as realtime_tickets

logger = logging.getLogger("platform.console")

router = tenant_router()

ChatReadPage = Annotated[TenantPage, Depends(permission_page(Permission.CHAT_READ))]
ChatWritePage = Annotated[TenantPage, Depends(permission_page(Permission.CHAT_WRITE))]

HISTORY_PAGE = 50
MEMBERS_SHOWN = 100  # the room page lists this many members (the API pages through all of them)
ADDABLE_SHOWN = 500  # and offers this many people to add
_CREATE_SCOPE = "chat.create_room"
_POST_SCOPE = "chat.post"
NAMES_MAX = 20  # the names one look-up of the live page may ask for


async def _posted(page: TenantPage, *names: str) -> dict[str, str]:
    form = await page.request.form()
    return {name: value for name in names if isinstance(value := form.get(name), str)}


async def _rooms_page(
    page: TenantPage,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    archived = page.request.query_params.get("archived") == "1"
    paging = paging_of(page.request.query_params.get("page"))
    rooms = await chat_service.list_rooms(page.session, page.user, include_archived=archived, paging=paging)
    context = {
        "rooms": rooms,
        "archived": archived,
        "page_url": lambda number: f"/chat?page={number}" + ("&archived=1" if archived else ""),
        "values": values or {},
        "errors": errors or {},
        "can_write": page.can(Permission.CHAT_WRITE),
        "manages": chat_service.manages_chat(page.user),
        "form_nonce": new_nonce(),
    }
    return render(page.request, "tenant/chat.html", context, status_code=status)


@router.get("/chat")
async def list_rooms(page: ChatReadPage) -> Response:
    """The rooms the user is in (every room for those who manage members), by name."""
    return await _rooms_page(page)


@router.post("/chat")
async def create_room(page: ChatWritePage) -> Response:
    """Create a room (once per form) and open it."""
    values = await _posted(page, "name", "topic")
    try:
        body = RoomCreate.model_validate(values)
    except ValidationError as exc:
        return await _rooms_page(page, values=values, errors=errors_by_field(exc), status=422)
    if not await claim_submission(page.request, _CREATE_SCOPE):
        return redirect("/chat", notice="That room was already created.", settings=page.settings)
    try:
        room = await chat_service.create_room(page.session, page.user, body)
    except BaseException:
        await release_submission(page.request, _CREATE_SCOPE)
        raise
    return redirect(f"/chat/{room.id}", notice="Room created.", settings=page.settings)


def _cursor(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None  # a browser's URL is forgiving: the latest messages


async def _room_page(
    page: TenantPage,
    room: ChatRoom,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    member = await chat_service.is_member(page.session, page.user, room)
    history = MessageHistory(items=[], next_before=None)
    before = _cursor(page.request.query_params.get("before"))
    # The latest messages follow the room live from where its stream was just before they were read.
    live_offset = await _stream_position(page, room) if member and before is None else None
    if member:
        try:
            history = await chat_service.history(page.session, room, before=before, limit=HISTORY_PAGE)
        except InvalidCursor:
            before = None
            live_offset = await _stream_position(page, room)
            history = await chat_service.history(page.session, room, before=None, limit=HISTORY_PAGE)
    authors = await chat_service.author_names(page.session, history.items)
    live = member and before is None
    members = await chat_service.list_members(page.session, room, PageParams(page=1, page_size=MEMBERS_SHOWN))
    can_write = page.can(Permission.CHAT_WRITE)
    may_add = can_write and room.archived_at is None and (member or chat_service.manages_chat(page.user))
    # The settings form: the room as it is, or what was typed when it was refused.
    room_values = {"name": room.name, "topic": room.topic} | {
        k: v for k, v in (values or {}).items() if k in ("name", "topic")
    }
    context = {
        "room": room,
        "member": member,
        "messages": list(reversed(history.items)),  # oldest first, as a conversation reads
        "older": history.next_before,
        "paged": before is not None,
        "authors": authors,
        "me": page.user.user_id,
        "can_write": page.can(Permission.CHAT_WRITE),
        "may_join": not member and chat_service.manages_chat(page.user) and can_write,
        "may_manage": can_write and chat_service.may_manage(page.user, room),
        "may_add": may_add,
        "members": members,
        "addable": await chat_service.addable_users(page.session, room, limit=ADDABLE_SHOWN)
        if may_add
        else [],
        "room_values": room_values,
        "values": values or {},
        "errors": errors or {},
        "form_nonce": new_nonce(),
        "live": live,
        "live_offset": live_offset,
    }
    return render(page.request, "tenant/chat_room.html", context, status_code=status)


async def _stream_position(page: TenantPage, room: ChatRoom) -> str | None:
    """The id of the room's latest realtime event now: the page's script resumes after it. Read before
    the history (an event is published only once its change is committed, so what it reports is in the
    history read next), so an event published in between is delivered again, never missed: the script
    drops a repeated message by its id. None when Redis cannot say (the script then starts live)."""
    redis = page.request.app.state.redis
    key = stream_key(page.tenant.id, chat_service.channel(room.id))
    try:
        entries: Any = await redis.xrevrange(key, count=1)
    except (RedisError, OSError) as exc:
        logger.warning("console: the chat stream's position is unknown (%s)", exc)
        return None
    if not entries:
        return "0-0"
    entry_id = entries[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


@router.get("/chat/{room_id}")
async def show_room(page: ChatReadPage, room_id: uuid.UUID) -> Response:
    """A room: its latest messages (older ones by a link), and the form to post for its members."""
    room = await chat_service.visible_room(page.session, page.user, room_id)
    return await _room_page(page, room)


@router.post("/chat/{room_id}/live")
async def room_live_ticket(page: ChatReadPage, room_id: uuid.UUID) -> Response:
    """A realtime ticket for the room page's script, which then follows `chat.<room_id>` (JSON; members
    only, as the channel is: anyone else gets the 404 page)."""
    room = await chat_service.member_room(page.session, page.user, room_id)
    hub = page.request.app.state.realtime_hub
    ttl = hub.settings.ticket_ttl_seconds
    claims = realtime_tickets.TicketClaims.of(page.user, api_key_hash=None)
    ticket = await realtime_tickets.issue(hub.redis, claims, ttl_seconds=ttl)
    return JSONResponse(
        {"ticket": ticket, "expires_in": ttl, "channel": chat_service.channel(room.id)},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/chat/{room_id}/names")
async def room_member_names(page: ChatReadPage, room_id: uuid.UUID) -> Response:
    """The display names of the room's members among the `id`s asked (up to 20), for the live page's
    script when someone it does not know yet posts or types (JSON; members only)."""
    room = await chat_service.member_room(page.session, page.user, room_id)
    wanted = [key for text in page.request.query_params.getlist("id")[:NAMES_MAX] if (key := _cursor(text))]
    names = await chat_service.member_names(page.session, room, wanted)
    return JSONResponse({str(k): v for k, v in names.items()}, headers={"Cache-Control": "no-store"})


@router.post("/chat/{room_id}/messages")
async def post_message(page: ChatWritePage, room_id: uuid.UUID) -> Response:
    """Post a message (once per form) and show the room again."""
    room = await chat_service.member_room(page.session, page.user, room_id)
    values = await _posted(page, "body")
    try:
        body = MessageCreate.model_validate(values)
    except ValidationError as exc:
        return await _room_page(page, room, values=values, errors=errors_by_field(exc), status=422)
    if not await claim_submission(page.request, _POST_SCOPE):
        return redirect(f"/chat/{room.id}", settings=page.settings)
    try:
        await chat_service.post_message(page.session, page.user, room, body.body)
    except BaseException:
        await release_submission(page.request, _POST_SCOPE)
        raise
    return redirect(f"/chat/{room.id}", settings=page.settings)


async def _edit_form(
    page: TenantPage,
    room: ChatRoom,
    message: ChatMessage,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    context = {"room": room, "message": message, "values": values, "errors": errors}
    return render(page.request, "tenant/chat_message_edit.html", context, status_code=status)


async def _editable(
    page: TenantPage, room_id: uuid.UUID, message_id: uuid.UUID
) -> tuple[ChatRoom, ChatMessage]:
    room = await chat_service.member_room(page.session, page.user, room_id)
    message = await chat_service.own_message(page.session, page.user, room, message_id)
    if message.deleted_at is not None:
        raise MessageDeleted
    return room, message


@router.get("/chat/{room_id}/messages/{message_id}/edit")
async def edit_message_form(page: ChatWritePage, room_id: uuid.UUID, message_id: uuid.UUID) -> Response:
    """The form to change one's own message."""
    room, message = await _editable(page, room_id, message_id)
    return await _edit_form(page, room, message, values={"body": message.body or ""}, errors={})


@router.post("/chat/{room_id}/messages/{message_id}/edit")
async def edit_message(page: ChatWritePage, room_id: uuid.UUID, message_id: uuid.UUID) -> Response:
    """Save one's own message's new text."""
    room, message = await _editable(page, room_id, message_id)
    values = await _posted(page, "body")
    try:
        body = MessageUpdate.model_validate(values)
    except ValidationError as exc:
        return await _edit_form(page, room, message, values=values, errors=errors_by_field(exc), status=422)
    await chat_service.edit_message(page.session, page.user, room, message.id, body.body)
    return redirect(f"/chat/{room.id}#m-{message.id}", notice="Message saved.", settings=page.settings)


@router.post("/chat/{room_id}/messages/{message_id}/delete")
async def delete_message(page: ChatWritePage, room_id: uuid.UUID, message_id: uuid.UUID) -> Response:
    """Delete one's own message (a tombstone stays in its place)."""
    room = await chat_service.member_room(page.session, page.user, room_id)
    await chat_service.delete_message(page.session, page.user, room, message_id)
    return redirect(f"/chat/{room.id}", notice="Message deleted.", settings=page.settings)


@router.post("/chat/{room_id}/join")
async def join_room(page: ChatWritePage, room_id: uuid.UUID) -> Response:
    """Join a room one manages but is not in (those who manage members see every room)."""
    room = await chat_service.visible_room(page.session, page.user, room_id)
    await chat_service.add_member(page.session, page.user, room, page.user.user_id)
    return redirect(f"/chat/{room.id}", notice="You joined the room.", settings=page.settings)


@router.post("/chat/{room_id}/settings")
async def update_room(page: ChatWritePage, room_id: uuid.UUID) -> Response:
    """Rename the room or change its topic (its creator, or those who manage members)."""
    room = await chat_service.visible_room(page.session, page.user, room_id, lock=True)
    values = await _posted(page, "name", "topic")
    try:
        body = RoomUpdate.model_validate(values)
    except ValidationError as exc:
        return await _room_page(page, room, values=values, errors=errors_by_field(exc), status=422)
    await chat_service.update_room(page.session, page.user, room, body)
    return redirect(f"/chat/{room.id}", notice="Room saved.", settings=page.settings)


@router.post("/chat/{room_id}/archive")
async def archive_room(page: ChatWritePage, room_id: uuid.UUID) -> Response:
    """Archive the room: its history stays, nothing more is posted."""
    room = await chat_service.visible_room(page.session, page.user, room_id, lock=True)
    await chat_service.set_archived(page.session, page.user, room, archived=True)
    return redirect(f"/chat/{room.id}", notice="Room archived.", settings=page.settings)


@router.post("/chat/{room_id}/unarchive")
async def unarchive_room(page: ChatWritePage, room_id: uuid.UUID) -> Response:
    """Bring an archived room back."""
    room = await chat_service.visible_room(page.session, page.user, room_id, lock=True)
    await chat_service.set_archived(page.session, page.user, room, archived=False)
    return redirect(f"/chat/{room.id}", notice="Room unarchived.", settings=page.settings)


@router.post("/chat/{room_id}/members")
async def add_member(page: ChatWritePage, room_id: uuid.UUID) -> Response:
    """Add someone of the workspace to the room (its members, or those who manage members)."""
    room = await chat_service.visible_room(page.session, page.user, room_id, lock=True)
    values = await _posted(page, "user_id")
    try:
        body = RoomMemberAdd.model_validate(values)
        await chat_service.add_member(page.session, page.user, room, body.user_id)
    except ValidationError:
        errors = {"user_id": "Choose someone to add."}
        return await _room_page(page, room, values=values, errors=errors, status=422)
    except UnknownUser as exc:
        return await _room_page(page, room, values=values, errors={"user_id": exc.message}, status=422)
    except AlreadyRoomMember:
        return redirect(f"/chat/{room.id}", notice="They are already in the room.", settings=page.settings)
    return redirect(f"/chat/{room.id}", notice="Member added.", settings=page.settings)


@router.post("/chat/{room_id}/members/{user_id}/remove")
async def remove_member(page: ChatWritePage, room_id: uuid.UUID, user_id: uuid.UUID) -> Response:
    """Remove a member (the room's creator, or those who manage members), or leave the room."""
    room = await chat_service.visible_room(page.session, page.user, room_id, lock=True)
    await chat_service.remove_member(page.session, page.user, room, user_id)
    if user_id == page.user.user_id:
        return redirect("/chat", notice=f"You left “{room.name}”.", settings=page.settings)
    return redirect(f"/chat/{room.id}", notice="Member removed.", settings=page.settings)
