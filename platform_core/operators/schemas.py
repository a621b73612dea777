"""Request and response bodies of the operator API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from platform_core.auth.schemas import NEW_PASSWORD_RULE
from platform_core.kernel.context import TenantStatus
from platform_core.kernel.paging import Page

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OperatorTokenResponse(BaseModel):
    """An operator access token; there is no refresh token: sign in again when it expires."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int


class OperatorRead(BaseModel):
    """An operator account."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    is_active: bool
    last_login_at: datetime | None


class TenantRead(BaseModel):
    """A tenant as operators see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str
    status: TenantStatus
    suspended_reason: str | None
    owner_email: str | None
    schema_name: str
    schema_revision: str | None
    migration_error: str | None
    created_at: datetime
    deleted_at: datetime | None
    purge_after: datetime | None


class TenantPage(Page[TenantRead]):
    """One page of tenants, by slug."""


class AddOwnerRequest(_Body):
    """Make someone an owner: an existing user is promoted; a new account gets the password or a link."""

    email: EmailStr
    password: Annotated[str | None, Field(max_length=128, json_schema_extra=NEW_PASSWORD_RULE)] = None


class OwnerAddedRead(BaseModel):
    """What adding an owner did."""

    user_id: uuid.UUID
    email: str
    created: bool
    link_sent: bool


class SuspendRequest(_Body):
    """Why a tenant is suspended: its users see the reason."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]

    @field_validator("reason")
    @classmethod
    def _printable(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("The reason cannot contain control characters.")
        return value


class TenantMemberRead(BaseModel):
    """A user of a tenant, as operators see it."""

    id: uuid.UUID
    email: str
    full_name: str
    role: str
    is_active: bool
    email_verified: bool
    created_at: datetime
    last_login_at: datetime | None


class TenantMemberPage(Page[TenantMemberRead]):
    """One page of a tenant's users, by email."""


class BehindHeadRead(BaseModel):
    """A tenant whose schema is not at the tenant head."""

    model_config = ConfigDict(from_attributes=True)

    slug: str
    status: TenantStatus
    revision: str | None
    error: str | None
    migrated_at: datetime | None


class FleetStatusRead(BaseModel):
    """The fleet's migration status: the tenant head and the tenants not at it."""

    head: str
    tenants: int
    behind: list[BehindHeadRead]


EventStatus = Literal["parked", "failed"]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]


class ReplayRequest(_Body):
    """Which waiting Stripe events to queue again: every parked one by default, or only those named."""

    event_ids: Annotated[
        list[EventId] | None,
        Field(max_length=100),
    ] = None
    include_failed: bool = False


class OperatorActionRead(BaseModel):
    """An entry of the platform's log of operator actions."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    occurred_at: datetime
    operator_id: uuid.UUID | None
    actor_label: str | None
    ip: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]


class OperatorActionPage(Page[OperatorActionRead]):
    """One page of operator actions, newest first."""


class ExportRequest(_Body):
    """What to export: the tenant's rows and the index of its files; with `with_files`, the files too."""

    with_files: bool = False


class ExportRead(BaseModel):
    """An export of a tenant's data and, once it succeeded, a short-lived link to download it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: Literal["queued", "succeeded", "failed"]
    with_files: bool
    requested_by: str | None
    requested_at: datetime
    finished_at: datetime | None
    size_bytes: int | None
    rows: int | None
    files: int | None
    error: str | None
    download_url: str | None = None


class ExportList(BaseModel):
    """A tenant's latest exports, newest first."""

    items: list[ExportRead]
