"""Uploads through the API as a client does it: ask for a form, send the bytes to S3, complete."""

from __future__ import annotations

from typing import Any

import httpx


async def send_file(created: dict[str, Any], content: bytes) -> httpx.Response:
    """POST `content` to the storage with the signed form of a created upload, as a browser would."""
    link = created["upload"]
    async with httpx.AsyncClient(timeout=10) as storage:
        return await storage.post(
            link["url"],
            data=link["fields"],
            files={"file": (created["filename"], content, created["content_type"])},
        )


async def upload_file(
    client: httpx.AsyncClient,
    content: bytes,
    filename: str = "notes.txt",
    content_type: str = "text/plain",
) -> dict[str, Any]:
    """Create, send and complete an upload; return the completed upload."""
    created = await client.post(
        "/api/v1/uploads",
        json={"filename": filename, "content_type": content_type, "size_bytes": len(content)},
    )
    assert created.status_code == 201, created.text
    sent = await send_file(created.json(), content)
    assert sent.status_code in (200, 201, 204), sent.text
    completed = await client.post(f"/api/v1/uploads/{created.json()['id']}/complete")
    assert completed.status_code == 200, completed.text
    return completed.json()
