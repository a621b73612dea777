"""Request and response bodies of the webhook API. Only creation and rotation show a secret."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from platform_core.kernel.events import CATALOG
from platform_core.kernel.paging import Page

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
EventName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _known_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in CATALOG]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r} (GET /api/v1/webhook-events lists them)")
    return list(dict.fromkeys(events))


class EndpointCreate(BaseModel):
    """A new endpoint: where to send, which events, and a note for people."""

    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description="An https:// URL with a public address.")
    events: list[EventName] = Field(min_length=1, max_length=len(CATALOG), description="Event types to send.")
    description: Description = ""

    _events = field_validator("events")(_known_events)


class EndpointUpdate(BaseModel):
    """A change to an endpoint; only the fields sent change. `enabled: true` re-enables a disabled one."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    events: list[EventName] | None = Field(default=None, min_length=1, max_length=len(CATALOG))
    description: Description | None = None
    enabled: bool | None = None

    @field_validator("events")
    @classmethod
    def _events(cls, events: list[str] | None) -> list[str] | None:
        return None if events is None else _known_events(events)


class EndpointRead(BaseModel):
    """An endpoint, without its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointRead):
    """An endpoint with its signing secret: the answer to creation and rotation only."""

    secret: str = Field(description="The signing secret (`whsec_...`): shown only now; keep it.")


EndpointPage = Page[EndpointRead]


class DeliveryRead(BaseModel):
    """One event sent (or to send) to an endpoint, and its last attempt."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: str
    event_type: str
    status: str = Field(description="`pending` (waiting for an attempt or a retry), `succeeded` or `failed`.")
    attempts: int = Field(description="Attempts so far (the last one's number).")
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    response_status: int | None
    response_body: str | None = Field(description="The first 2 KB of the last answer's body.")
    duration_ms: int | None
    error: str | None
    created_at: datetime


DeliveryPage = Page[DeliveryRead]


class ReplayRequest(BaseModel):
    """Send again every failed delivery of events since a time."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime


class ReplayAccepted(BaseModel):
    """How many failed deliveries were put back in line."""

    requeued: int


class EventTypeRead(BaseModel):
    """One event type of the catalogue, with the JSON schema of its `data`."""

    name: str
    version: int
    description: str
    data_schema: dict[str, Any]


def catalog() -> list[EventTypeRead]:
    """The event catalogue, for the API and the console."""
    return [
        EventTypeRead(
            name=e.name, version=e.version, description=e.description, data_schema=e.data.model_json_schema()
        )
        for e in CATALOG.values()
    ]
