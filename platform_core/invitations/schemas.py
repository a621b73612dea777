"""What the API shows and accepts for invitations."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from platform_core.access.models import Invitation
from platform_core.auth.schemas import NEW_PASSWORD_RULE
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.paging import Page


class InvitationStatus(StrEnum):
    """Where an invitation is."""

    PENDING = "pending"
    EXPIRED = "expired"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


class InvitationCreate(BaseModel):
    """Invite an address with a role (by name)."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    role: str = Field(min_length=1, max_length=50)


class InvitationRead(BaseModel):
    """An invitation (never its token)."""

    id: uuid.UUID
    email: str
    role: str
    status: InvitationStatus
    invited_by_id: uuid.UUID | None
    expires_at: datetime
    created_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class InvitationPage(Page[InvitationRead]):
    """One page of invitations."""


class InvitationAccept(BaseModel):
    """Accept an invitation: its token, the new account's password and name."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)
    password: str = Field(max_length=1024, json_schema_extra=NEW_PASSWORD_RULE)
    full_name: str = Field(default="", max_length=200)


def status_of(invitation: Invitation) -> InvitationStatus:
    """The invitation's status now."""
    if invitation.accepted_at is not None:
        return InvitationStatus.ACCEPTED
    if invitation.revoked_at is not None:
        return InvitationStatus.REVOKED
    if invitation.expires_at <= utcnow():
        return InvitationStatus.EXPIRED
    return InvitationStatus.PENDING


def invitation_read(invitation: Invitation) -> InvitationRead:
    """Render an invitation with its role loaded."""
    return InvitationRead(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role.name,
        status=status_of(invitation),
        invited_by_id=invitation.invited_by_id,
        expires_at=invitation.expires_at,
        created_at=invitation.created_at,
        accepted_at=invitation.accepted_at,
        revoked_at=invitation.revoked_at,
    )
