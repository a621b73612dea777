"""Request and response bodies for API keys. No response but the creation one carries the secret."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from platform_core.access.models import ApiKey
from platform_core.kernel.paging import Page

KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ScopeName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class ApiKeyCreate(BaseModel):
    """A new API key: a name, the permissions it holds, and an optional expiry (timezone required)."""

    model_config = ConfigDict(extra="forbid")

    name: KeyName
    scopes: list[ScopeName] = Field(min_length=1, max_length=50)
    expires_at: AwareDatetime | None = None

    @field_validator("scopes")
    @classmethod
    def _dedupe(cls, scopes: list[str]) -> list[str]:
        return list(dict.fromkeys(scopes))


class ApiKeyStatus(StrEnum):
    """Whether a key can still be used."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class ApiKeyRead(BaseModel):
    """An API key as the API shows it: never its secret nor the secret's hash."""

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    status: ApiKeyStatus
    expires_at: datetime | None
    created_at: datetime
    created_by: uuid.UUID
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    """A key just created, with its secret: shown in this response only, it cannot be read again."""

    secret: str


class ApiKeyPage(Page[ApiKeyRead]):
    """One page of API keys and the total."""


def key_status(key: ApiKey, *, now: datetime) -> ApiKeyStatus:
    """A key's status at `now` (revocation wins over expiry)."""
    if key.revoked_at is not None:
        return ApiKeyStatus.REVOKED
    if key.expires_at is not None and key.expires_at <= now:
        return ApiKeyStatus.EXPIRED
    return ApiKeyStatus.ACTIVE


def api_key_read(key: ApiKey, *, now: datetime) -> ApiKeyRead:
    """Render a key as the API shows it."""
    return ApiKeyRead(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scopes=list(key.scopes),
        status=key_status(key, now=now),
        expires_at=key.expires_at,
        created_at=key.created_at,
        created_by=key.created_by_id,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )
