"""The console's files page over HTTP, against a real S3-compatible server: the JSON routes of the
page's script (start, then complete after the file went to the storage), the list, downloads, deletes,
refusals shown as the API's errors, who may do what, and other tenants' files."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from platform_core.audit.models import AuditEvent
from platform_core.uploads.models import Upload
from tests.factories import create_upload
from tests.platform_core.console.data_support import signed_in_as, token
from tests.support.uploads import send_file

pytestmark = pytest.mark.usefixtures("s3")


@pytest.fixture
async def owner(app, db, tenant_a) -> Any:
    """Alpha's owner, signed in to the console."""
    async with signed_in_as(app, db, tenant_a, "owner") as client:
        yield client


async def _start(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    data = {"csrf_token": await token(client, "/uploads"), **fields}
    return await client.post("/uploads/start", data=data)


async def _rows(db, tenant) -> list[Upload]:
    async with db.session(tenant.schema_name) as session:
        return list((await session.scalars(select(Upload))).all())


async def test_upload_through_the_pages_routes_then_list_download_and_delete(owner, db, tenant_a):
    page = await owner.get("/uploads")
    assert page.status_code == 200
    assert "data-upload" in page.text
    assert re.search(r'<script src="/assets/uploads\.js\?v=[0-9a-f]+" defer>', page.text)

    started = await _start(owner, filename="Plan B.txt", content_type="text/plain", size_bytes="11")
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["complete_url"] == f"/uploads/{body['id']}/complete"
    assert body["upload"]["fields"]["Content-Type"] == "text/plain"
    created = {"filename": "Plan B.txt", "content_type": "text/plain", "upload": body["upload"]}

    early = await owner.post(body["complete_url"], data={"csrf_token": await token(owner)})
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "upload_not_received"

    assert (await send_file(created, b"hello world")).status_code == 204
    done = await owner.post(body["complete_url"], data={"csrf_token": await token(owner)})
    assert done.status_code == 200, done.text
    assert done.json() == {"id": body["id"], "status": "stored", "list_url": "/uploads"}
    (row,) = await _rows(db, tenant_a)
    assert (row.filename, row.size_bytes, row.status) == ("Plan B.txt", 11, "stored")

    listing = await owner.get("/uploads")
    assert "“Plan B.txt” uploaded." in listing.text
    assert f'href="/uploads/{row.id}/download"' in listing.text
    assert "11 B" in listing.text
    download = await owner.get(f"/uploads/{row.id}/download")
    assert download.status_code == 303
    async with httpx.AsyncClient() as storage:
        got = await storage.get(download.headers["location"])
    assert got.content == b"hello world"
    assert got.headers["content-disposition"].startswith('attachment; filename="Plan B.txt"')

    deleted = await owner.post(f"/uploads/{row.id}/delete", data={"csrf_token": await token(owner)})
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/uploads")
    assert await _rows(db, tenant_a) == []
    async with db.session(tenant_a.schema_name) as session:
        event = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "upload.deleted"))).one()
    assert event.details["filename"] == "Plan B.txt"
    assert "“Plan B.txt” deleted." in (await owner.get("/uploads")).text


async def test_a_file_that_is_not_what_was_declared_is_refused_with_the_apis_error(owner, db, tenant_a):
    body = (await _start(owner, filename="a.txt", content_type="text/plain", size_bytes="3")).json()
    created = {"filename": "a.txt", "content_type": "text/plain", "upload": body["upload"]}
    await send_file({**created, "upload": {**body["upload"]}}, b"abc")
    # The storage holds 3 bytes, as declared: now pretend the declaration said 4.
    async with db.session(tenant_a.schema_name) as session:
        row = await session.get(Upload, body["id"])
        assert row is not None
        row.size_bytes = 4
        await session.commit()
    refused = await owner.post(body["complete_url"], data={"csrf_token": await token(owner)})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "upload_size_mismatch"
    assert "not the 4 declared" in refused.json()["error"]["message"]


async def test_invalid_declarations_are_answered_as_json_errors(owner, db, tenant_a):
    bad = await _start(owner, filename="../etc/passwd", size_bytes="-1")
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"filename", "size_bytes"}
    assert "Must be a file name, not a path" in error["message"]
    assert error["fields"]["size_bytes"] == "Input should be greater than or equal to 0"
    huge = await _start(owner, filename="big.bin", size_bytes=str(200 * 1024**3))
    assert huge.status_code == 422
    assert await _rows(db, tenant_a) == []


async def test_beyond_the_plans_storage_is_402_as_json(app, db, tenant_b):
    async with signed_in_as(app, db, tenant_b, "owner") as owner_b:  # beta: the free plan (1 GB)
        refused = await _start(owner_b, filename="big.bin", size_bytes=str(2 * 1024**3))
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "storage_limit_reached"
    assert await _rows(db, tenant_b) == []


async def test_the_list_filters_by_status_and_pages(owner, db, tenant_a):
    for n in range(3):
        await create_upload(db, tenant_a, filename=f"stored-{n}.txt", status="stored")
    await create_upload(db, tenant_a, filename="waiting.txt", status="pending")
    stored = await owner.get("/uploads?status=stored&page_size=2")
    assert stored.status_code == 200
    assert "Page 1 of 2 · 3 in all" in stored.text
    assert "waiting.txt" not in stored.text
    pending = await owner.get("/uploads?status=pending")
    assert "waiting.txt" in pending.text
    assert "Download" not in pending.text
    bad = await owner.get("/uploads?status=lost")
    assert bad.status_code == 422
    assert "waiting.txt" in bad.text  # the invalid filter is left out


async def test_a_viewer_sees_files_without_the_upload_form_or_deletes(app, db, tenant_a):
    upload = await create_upload(db, tenant_a, filename="shared.txt", status="stored")
    async with signed_in_as(app, db, tenant_a, "viewer") as viewer:
        page = await viewer.get("/uploads")
        assert page.status_code == 200
        assert "shared.txt" in page.text
        assert "data-upload" not in page.text
        assert "uploads.js" not in page.text
        assert "Delete" not in page.text
        assert (await viewer.get(f"/uploads/{upload.id}/download")).status_code == 303
        csrf = await token(viewer)
        refused = await viewer.post(
            "/uploads/start", data={"csrf_token": csrf, "filename": "x", "size_bytes": "1"}
        )
        assert refused.status_code == 403
        assert (
            await viewer.post(f"/uploads/{upload.id}/delete", data={"csrf_token": csrf})
        ).status_code == 403
    assert len(await _rows(db, tenant_a)) == 1


async def test_without_the_csrf_token_nothing_is_started(owner, db, tenant_a):
    response = await owner.post("/uploads/start", data={"filename": "a.txt", "size_bytes": "1"})
    assert response.status_code == 403
    assert await _rows(db, tenant_a) == []


async def test_another_tenants_file_is_the_404_page(owner, db, tenant_b):
    other = await create_upload(db, tenant_b, filename="beta.txt", status="stored")
    csrf = await token(owner)
    assert (await owner.get(f"/uploads/{other.id}/download")).status_code == 404
    assert (await owner.post(f"/uploads/{other.id}/complete", data={"csrf_token": csrf})).status_code == 404
    assert (await owner.post(f"/uploads/{other.id}/delete", data={"csrf_token": csrf})).status_code == 404
    assert [u.filename for u in await _rows(db, tenant_b)] == ["beta.txt"]
