"""Chat errors."""

from __future__ import annotations

from platform_core.kernel.errors import Conflict, Forbidden, NotFound, Unprocessable


class RoomNotFound(NotFound):
    """No such room in this tenant, or not one the caller may see."""

    code = "chat_room_not_found"
    message = "Room not found."


class MessageNotFound(NotFound):
    """No such message in this room."""

    code = "chat_message_not_found"
    message = "Message not found."


class RoomMemberNotFound(NotFound):
    """The user is not a member of this room."""

    code = "chat_member_not_found"
    message = "This user is not a member of the room."


class NotRoomManager(Forbidden):
    """Renaming, archiving and removing others is for the room's creator and for those who manage members."""

    code = "chat_room_manage_denied"
    message = "Only the room's creator or someone who manages members can do this."


class NotAuthor(Forbidden):
    """Only a message's author edits or deletes it."""

    code = "chat_not_author"
    message = "Only the author of a message can change or delete it."


class RoomArchived(Conflict):
    """An archived room takes no messages and no changes until it is unarchived."""

    code = "chat_room_archived"
    message = "The room is archived."


class AlreadyRoomMember(Conflict):
    """The user is already a member of the room."""

    code = "chat_already_member"
    message = "This user is already a member of the room."


class MessageDeleted(Conflict):
    """A deleted message cannot be edited."""

    code = "chat_message_deleted"
    message = "The message was deleted."


class UnknownUser(Unprocessable):
    """The user to add is not an active member of this workspace."""

    code = "chat_unknown_user"
    message = "No active member of this workspace has this id."


class InvalidCursor(Unprocessable):
    """`before` names no message of this room."""

    code = "chat_invalid_cursor"
    message = "`before` must be a message id of this room (the `next_before` of a previous page)."


class MessageInvalid(Unprocessable):
    """A message sent over the socket that is not a valid message (no body, too long, blank)."""

    code = "chat_message_invalid"
    message = "Not a valid message."
