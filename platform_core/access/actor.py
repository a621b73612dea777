"""Who acted: the value the audit log records for every change, and that a principal turns into.

It lives in the access layer because the principal produces it; the audit domain above stores it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class ActorType(StrEnum):
    """Who can act on a tenant."""

    USER = "user"
    API_KEY = "api_key"
    OPERATOR = "operator"
    ANONYMOUS = "anonymous"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: its kind, id and a readable label (an email or a key's name)."""

    type: ActorType
    id: uuid.UUID | None = None
    label: str | None = None
    ip: str | None = None
