"""Request and response bodies for the tenant's settings."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, StrictBool, field_validator


class TenantSettingsRead(BaseModel):
    """The tenant's settings; `updated_at` is null while they were never changed."""

    model_config = ConfigDict(from_attributes=True)

    allow_signup: bool
    updated_at: datetime | None


class TenantSettingsUpdate(BaseModel):
    """A partial update: only the fields sent change (none may be null)."""

    model_config = ConfigDict(extra="forbid")

    allow_signup: StrictBool | None = None

    @field_validator("allow_signup")
    @classmethod
    def _not_null(cls, value: bool | None) -> bool:
        if value is None:
            raise ValueError("may not be null")
        return value
