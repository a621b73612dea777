"""Request and response bodies for chat rooms, members and messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from platform_core.chat.models import MAX_BODY, MAX_NAME, MAX_TOPIC
from platform_core.kernel.paging import Page

RoomName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME)]
Topic = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TOPIC)]
MAX_HISTORY = 100


def _not_blank(body: str) -> str:
    if not body.strip():
        raise ValueError("a message needs some text")
    return body


class RoomCreate(BaseModel):
    """A new room; its creator is its first member."""

    model_config = ConfigDict(extra="forbid")

    name: RoomName
    topic: Topic = ""


class RoomUpdate(BaseModel):
    """Rename a room or change its topic: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name: RoomName | None = None
    topic: Topic | None = None


class RoomRead(BaseModel):
    """A room as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    topic: str
    created_by_id: uuid.UUID | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RoomPage(Page[RoomRead]):
    """One page of rooms, by name."""


class RoomMemberAdd(BaseModel):
    """Add a member of the workspace to the room."""

    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID


class RoomMemberRead(BaseModel):
    """A member of a room."""

    user_id: uuid.UUID
    email: str
    full_name: str
    added_at: datetime


class RoomMemberPage(Page[RoomMemberRead]):
    """One page of a room's members, by email."""


class MessageCreate(BaseModel):
    """A new message: at most 4,000 characters, not only whitespace."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=MAX_BODY, description="The text, 1-4000 characters, not only whitespace.")

    _check = field_validator("body")(_not_blank)


class MessageUpdate(BaseModel):
    """A message's new text (same rules as a new one)."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=MAX_BODY, description="The text, 1-4000 characters, not only whitespace.")

    _check = field_validator("body")(_not_blank)


class MessageRead(BaseModel):
    """A message; a deleted one is a tombstone: `deleted_at` set, `body` null."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    room_id: uuid.UUID
    author_id: uuid.UUID | None
    body: str | None
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None


class MessageHistory(BaseModel):
    """Messages newest first; pass `next_before` as `before` for the older ones (null: no more)."""

    items: list[MessageRead]
    next_before: uuid.UUID | None = Field(
        description="The cursor of the next (older) page: the id of this page's oldest message, "
        "or null when there is nothing older."
    )
