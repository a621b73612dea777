"""Report requests."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr


class ReportKind(StrEnum):
    """Reports that can be built."""

    ITEMS_CSV = "items_csv"


class ReportCreate(BaseModel):
    """Ask for a report; optionally be emailed when it is ready."""

    model_config = ConfigDict(extra="forbid")

    kind: ReportKind
    notify_email: EmailStr | None = None
