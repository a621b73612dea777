"""The event catalogue in the tenant API's OpenAPI document: one `webhooks` entry per event type."""

from __future__ import annotations

from typing import Any

from platform_core.kernel.events import CATALOG

SIGNATURE_HEADERS = {
    "webhook-id": "The message id (`msg_...`), the same for every retry: drop one already handled.",
    "webhook-timestamp": "Seconds since the epoch when this attempt was signed: refuse one far from now.",
    "webhook-signature": "`v1,<base64 HMAC-SHA256>` per secret in use, space-separated (Standard Webhooks).",
}


def add_webhooks(document: dict[str, Any]) -> None:
    """Document every event type as an OpenAPI webhook, its `data` schema in the components."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    hooks: dict[str, Any] = {}
    for event in CATALOG.values():
        data = event.data.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(data.pop("$defs", {}))
        schemas[event.data.__name__] = data
        payload = {
            "type": "object",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"type": "string", "const": event.name},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": {"$ref": f"#/components/schemas/{event.data.__name__}"},
            },
        }
        hooks[event.name] = {
            "post": {
                "summary": event.description,
                "description": f"Event `{event.name}`, version {event.version}. Sent signed "
                "(Standard Webhooks) to each endpoint subscribed to it; answer 2xx within 15 s.",
                "parameters": [
                    {
                        "name": name,
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": text,
                    }
                    for name, text in SIGNATURE_HEADERS.items()
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": payload}}},
                "responses": {
                    "2XX": {"description": "Received."},
                    "410": {"description": "Gone: the endpoint is disabled, nothing more is sent."},
                    "429": {"description": "Too many: the next attempt waits for `Retry-After`."},
                },
            }
        }
    document["webhooks"] = hooks
