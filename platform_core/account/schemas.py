"""What a user may change on their own account."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MeUpdate(BaseModel):
    """Fields a user can change on their own account."""

    model_config = ConfigDict(extra="forbid")

    full_name: str | None = Field(default=None, max_length=200)
