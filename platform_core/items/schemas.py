"""Request and response bodies for items."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from platform_core.items.models import ItemStatus
from platform_core.kernel.paging import Page

Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _unique_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


class ItemCreate(BaseModel):
    """A new item."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: str | None = Field(default=None, max_length=10_000)
    status: ItemStatus = ItemStatus.OPEN
    tags: list[Tag] = Field(default_factory=list, max_length=20)

    @field_validator("tags")
    @classmethod
    def _dedupe(cls, tags: list[str]) -> list[str]:
        return _unique_tags(tags)


class ItemUpdate(BaseModel):
    """A partial update: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: str | None = Field(default=None, max_length=10_000)
    status: ItemStatus | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)

    @field_validator("tags")
    @classmethod
    def _dedupe(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else _unique_tags(tags)


class ItemRead(BaseModel):
    """An item as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    description: str | None
    status: ItemStatus
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class ItemSort(StrEnum):
    """Sort orders for listing; a leading '-' means descending."""

    CREATED = "created"
    CREATED_DESC = "-created"
    TITLE = "title"
    TITLE_DESC = "-title"


class ItemPage(Page[ItemRead]):
    """One page of items and the total matching the filters."""
