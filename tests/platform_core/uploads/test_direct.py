"""Direct uploads against a real S3-compatible server: one multipart request, streamed to the storage."""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from billing.catalog import get_catalog
from platform_core.app.main import create_app
from platform_core.kernel.db.engines import Database
from platform_core.uploads.direct import PART_BYTES
from platform_core.uploads.models import Upload
from platform_core.uploads.settings import S3Settings, get_s3_settings
from tests.conftest import client_for, host_of, owner_client, signed_in
from tests.factories import UploadFactory, access_token, create_upload, create_user
from tests.support.uploads import upload_file

pytestmark = pytest.mark.usefixtures("s3")
DIRECT = "/api/v1/uploads/direct"
BOUNDARY = "direct-upload-test-boundary"
FORM = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
PRO = get_catalog().plan("pro").entitlements.storage_bytes
FREE = get_catalog().plan("free").entitlements.storage_bytes
MiB = 1024**2


def _head(filename: str = "big.bin", content_type: str = "application/octet-stream") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()


class CountedBody:
    """A form with one file of `size` bytes, sent in chunks; counts the chunks the server pulled."""

    def __init__(self, size: int, chunk: int = 256 * 1024) -> None:
        self.size, self.chunk, self.pulled = size, chunk, 0
        self.chunks = 2 + -(-size // chunk)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.pulled += 1
        yield _head()
        block, left = b"x" * self.chunk, self.size
        while left > 0:
            self.pulled += 1
            yield block[: min(left, self.chunk)]
            left -= self.chunk
        self.pulled += 1
        yield TAIL


def _keys(s3, prefix: str) -> set[str]:
    pages = s3.client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _multipart_uploads(s3, prefix: str) -> list[dict]:
    return s3.client.list_multipart_uploads(Bucket=s3.bucket, Prefix=prefix).get("Uploads", [])


async def _rows(client) -> int:
    return (await client.get("/api/v1/uploads")).json()["total"]


@pytest.fixture
def cap(monkeypatch):
    """Set S3_DIRECT_UPLOAD_MAX_BYTES for one test."""

    def set_cap(limit: int) -> None:
        monkeypatch.setenv("S3_DIRECT_UPLOAD_MAX_BYTES", str(limit))
        get_s3_settings.cache_clear()

    return set_cap


async def test_a_file_in_one_request_is_stored_and_downloadable(client_a, owner_a, tenant_a, s3):
    content = b"\x89PNG\r\n\x1a\n" + b"pixels" * 100
    response = await client_a.post(DIRECT, files={"file": ("Résumé (final).png", content, "image/png")})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["size_bytes"], body["content_type"]) == ("stored", len(content), "image/png")
    assert body["filename"] == "Résumé (final).png"
    assert body["uploaded_by_id"] == str(owner_a.id)
    key = f"tenants/{tenant_a.id}/uploads/{body['id']}/Resume_final_.png"
    assert _keys(s3, f"tenants/{tenant_a.id}/uploads/{body['id']}/") == {key}
    assert s3.head(key).content_type == "image/png"
    async with httpx.AsyncClient() as storage:
        download = await storage.get(body["download_url"])
    assert (download.status_code, download.content) == (200, content)
    fetched = (await client_a.get(f"/api/v1/uploads/{body['id']}")).json()
    assert (fetched["status"], fetched["size_bytes"]) == ("stored", len(content))
    assert (await client_a.delete(f"/api/v1/uploads/{body['id']}")).status_code == 204
    assert s3.size_of(key) is None


async def test_an_empty_file_and_a_missing_type_are_fine(client_a):
    response = await client_a.post(
        DIRECT,
        content=_head("empty.txt").replace(b"Content-Type: application/octet-stream\r\n", b"") + TAIL,
        headers=FORM,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["size_bytes"], body["content_type"]) == (0, "application/octet-stream")


async def test_a_file_larger_than_a_part_goes_up_in_parts(client_a, tenant_a, s3):
    content = random.Random(7).randbytes(2 * PART_BYTES + 12345)
    response = await client_a.post(DIRECT, files={"file": ("data.bin", content, "application/octet-stream")})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["size_bytes"] == len(content)
    key = f"tenants/{tenant_a.id}/uploads/{body['id']}/data.bin"
    etag = s3.client.head_object(Bucket=s3.bucket, Key=key)["ETag"]
    assert etag.strip('"').endswith("-3")  # S3's mark of an object joined from three parts
    async with httpx.AsyncClient() as storage:
        download = await storage.get(body["download_url"])
    assert hashlib.sha256(download.content).digest() == hashlib.sha256(content).digest()
    s3.delete(key)


async def test_the_cap_is_enforced_while_the_body_streams(client_a, tenant_a, s3, cap):
    cap(PART_BYTES + 4 * MiB)
    prefix = f"tenants/{tenant_a.id}/"
    before = _keys(s3, prefix)
    body = CountedBody(3 * PART_BYTES)  # no Content-Length: sent chunked
    response = await client_a.post(DIRECT, content=body, headers=FORM)
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert (error["code"], error["details"]) == ("file_too_large", {"max_bytes": PART_BYTES + 4 * MiB})
    # The server stopped reading at the cap: it never asked for the rest of the body.
    assert body.pulled < body.chunks * 0.6, (body.pulled, body.chunks)
    # One part had gone to the storage: the multipart upload was aborted, the reservation removed.
    assert _multipart_uploads(s3, prefix) == []
    assert _keys(s3, prefix) == before
    assert await _rows(client_a) == 0


async def test_a_client_that_goes_away_mid_file_leaves_nothing(app, client_a, tenant_a, s3):
    """The server (uvicorn) reports a dropped connection as `http.disconnect`: sent here at the ASGI
    level, after more than a part has reached the storage."""
    prefix = f"tenants/{tenant_a.id}/"
    before = _keys(s3, prefix)
    messages = [
        {"type": "http.request", "body": _head(), "more_body": True},
        *(
            {"type": "http.request", "body": b"d" * MiB, "more_body": True}
            for _ in range(PART_BYTES // MiB + 2)
        ),
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"host", host_of(tenant_a).encode()), (b"content-type", FORM["content-type"].encode())]
    headers.append((b"authorization", client_a.headers["authorization"].encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": DIRECT,
        "raw_path": DIRECT.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": (host_of(tenant_a), 80),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert b'"upload_interrupted"' in sent[1]["body"]
    assert _multipart_uploads(s3, prefix) == []
    assert _keys(s3, prefix) == before
    assert await _rows(client_a) == 0


async def test_a_declared_length_beyond_the_cap_is_refused_before_reading(client_a, cap):
    cap(1 * MiB)
    body = CountedBody(2 * MiB)
    length = len(_head()) + 2 * MiB + len(TAIL)
    response = await client_a.post(DIRECT, content=body, headers={**FORM, "content-length": str(length)})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert body.pulled == 0
    assert await _rows(client_a) == 0


async def test_the_storage_quota_is_reserved_from_the_declared_length_and_stored_as_the_real_size(
    client_a, db, tenant_a
):
    await create_upload(db, tenant_a, size_bytes=PRO - 1000)
    stored = await client_a.post(DIRECT, files={"file": ("a.bin", b"a" * 600, "application/octet-stream")})
    assert stored.status_code == 201, stored.text
    assert stored.json()["size_bytes"] == 600
    refused = await client_a.post(DIRECT, files={"file": ("b.bin", b"b" * 300, "application/octet-stream")})
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "storage_limit_reached"
    assert error["details"]["storage_used_bytes"] == PRO - 400
    assert 300 < error["details"]["requested_bytes"] < 600  # the request's length: the file and its form
    assert await _rows(client_a) == 2


async def test_an_upload_being_received_holds_its_reservation(settings, sync_db, tenant_service, s3):
    """While a direct upload streams, its reservation counts: other uploads of the last bytes are 402,
    and completing it through the signed-form route finds no file yet instead of discarding it."""
    tenant = tenant_service.create(slug=f"direct-{uuid.uuid4().hex[:8]}", name="Direct")  # free plan
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        filler = UploadFactory.build(size_bytes=FREE - 1000)
        filler.key = f"tenants/{tenant.id}/uploads/{filler.id}/filler.bin"
        session.add(filler)
    database = Database(settings, pool_size=4)
    app = create_app(settings, db=database, access_log=False)
    reading, release = asyncio.Event(), asyncio.Event()
    head, data = _head("slow.bin"), b"s" * 600

    async def slow() -> AsyncIterator[bytes]:
        yield head + data[:100]
        reading.set()  # the server asks for more: it has read the part's headers and reserved
        await release.wait()
        yield data[100:] + TAIL

    length = len(head) + len(data) + len(TAIL)
    try:
        async with owner_client(app, settings, sync_db, tenant) as client:
            first = asyncio.create_task(
                client.post(DIRECT, content=slow(), headers={**FORM, "content-length": str(length)})
            )
            await asyncio.wait_for(reading.wait(), timeout=10)
            other = await client.post(DIRECT, files={"file": ("o.bin", b"o" * 600, "text/plain")})
            assert other.status_code == 402, other.text
            assert other.json()["error"]["details"]["storage_reserved_bytes"] == length
            signed = await client.post("/api/v1/uploads", json={"filename": "p.bin", "size_bytes": 600})
            assert signed.status_code == 402
            [receiving] = (await client.get("/api/v1/uploads", params={"status": "pending"})).json()["items"]
            completed = await client.post(f"/api/v1/uploads/{receiving['id']}/complete")
            assert completed.status_code == 409
            release.set()
            done = await asyncio.wait_for(first, timeout=10)
            assert done.status_code == 201, done.text
            assert (done.json()["id"], done.json()["size_bytes"]) == (receiving["id"], 600)
            assert (await client.get("/api/v1/billing")).json()["storage_used_bytes"] == FREE - 400
        with sync_db.sync_session(tenant.schema_name) as session:
            assert session.scalar(select(func.count()).select_from(Upload)) == 2
    finally:
        release.set()
        s3.delete_prefix(f"tenants/{tenant.id}/")
        await app.state.redis.aclose()
        await database.dispose()


async def test_concurrent_direct_uploads_cannot_share_the_last_bytes(settings, sync_db, tenant_service, s3):
    tenant = tenant_service.create(slug=f"direct-{uuid.uuid4().hex[:8]}", name="Direct race")  # free plan
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        filler = UploadFactory.build(size_bytes=FREE - 1000)
        filler.key = f"tenants/{tenant.id}/uploads/{filler.id}/filler.bin"
        session.add(filler)
    database = Database(settings, pool_size=4)
    app = create_app(settings, db=database, access_log=False)
    try:
        async with owner_client(app, settings, sync_db, tenant) as client:
            for _ in range(3):  # several rounds: each must end with exactly one winner
                answers = await asyncio.gather(
                    *(
                        client.post(DIRECT, files={"file": (f"{n}.bin", b"z" * 600, "text/plain")})
                        for n in "ab"
                    )
                )
                assert sorted(a.status_code for a in answers) == [201, 402], [a.text for a in answers]
                winner = next(a.json() for a in answers if a.status_code == 201)
                assert (await client.delete(f"/api/v1/uploads/{winner['id']}")).status_code == 204
        with sync_db.sync_session(tenant.schema_name) as session:
            assert session.scalar(select(func.count()).select_from(Upload)) == 1  # the filler alone
    finally:
        s3.delete_prefix(f"tenants/{tenant.id}/")
        await app.state.redis.aclose()
        await database.dispose()


def _form(*parts: bytes, end: bool = True) -> bytes:
    return b"".join(parts) + (TAIL if end else b"")


def _part(headers: str, content: bytes = b"data") -> bytes:
    return f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + content + b"\r\n"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        _form(_part('Content-Disposition: form-data; name="note"')),
        _form(_part('Content-Disposition: form-data; name="file"')),
        _form(_part('Content-Disposition: form-data; name="document"; filename="a.txt"')),
        _form(_part('Content-Disposition: form-data; name="file"; filename="../etc/passwd"')),
        _form(_part('Content-Disposition: form-data; name="file"; filename="a\x01.txt"')),
        _form(_part('Content-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text')),
        _form(
            _part('Content-Disposition: form-data; name="file"; filename="a.txt"'),
            _part('Content-Disposition: form-data; name="file"; filename="b.txt"'),
        ),
        _form(_part('Content-Disposition: form-data; name="file"; filename="a.txt"'), end=False),
        _form(_part('Content-Disposition: form-data; name="file"; filename="a.txt"'))[:-30],
        b"not a form at all",
    ],
    ids=lambda content: repr(content[:70]),
)
async def test_a_bad_form_is_422_and_leaves_nothing(client_a, tenant_a, s3, content):
    prefix = f"tenants/{tenant_a.id}/"
    before = _keys(s3, prefix)
    response = await client_a.post(DIRECT, content=content, headers=FORM)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert await _rows(client_a) == 0
    assert _keys(s3, prefix) == before


async def test_a_bad_file_name_gets_the_signed_routes_message(client_a):
    content = _form(_part('Content-Disposition: form-data; name="file"; filename="dir/a.txt"'))
    response = await client_a.post(DIRECT, content=content, headers=FORM)
    [detail] = response.json()["error"]["details"]
    assert detail["loc"] == ["body", "file", "filename"]
    assert "must be a file name, not a path" in detail["message"]


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({"content-type": "application/json"}, b"{}"),
        ({"content-type": "multipart/form-data"}, b"x"),
        ({}, b""),
    ],
)
async def test_a_body_that_is_not_a_form_is_415(client_a, headers, content):
    response = await client_a.post(DIRECT, content=content, headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"


async def test_the_allowed_types_apply_to_both_ways_of_uploading(client_a, monkeypatch):
    monkeypatch.setenv("S3_ALLOWED_CONTENT_TYPES", "image/*, application/pdf")
    get_s3_settings.cache_clear()
    refused = await client_a.post(DIRECT, files={"file": ("page.html", b"<html>", "text/html")})
    assert refused.status_code == 415
    error = refused.json()["error"]
    assert (error["code"], error["details"]["content_type"]) == ("content_type_not_allowed", "text/html")
    for filename, media_type in (("a.png", "image/png"), ("b.pdf", "Application/PDF")):
        accepted = await client_a.post(DIRECT, files={"file": (filename, b"%PDF", media_type)})
        assert accepted.status_code == 201, accepted.text
    signed = await client_a.post(
        "/api/v1/uploads", json={"filename": "a.html", "content_type": "text/html", "size_bytes": 1}
    )
    assert (signed.status_code, signed.json()["error"]["code"]) == (415, "content_type_not_allowed")
    assert await _rows(client_a) == 2


def test_allowed_types_match_the_type_without_its_parameters():
    anything = S3Settings(bucket="b")
    assert anything.allows("text/html")
    listed = S3Settings(bucket="b", allowed_content_types="text/plain,image/*")
    assert listed.allows("text/plain; charset=utf-8")
    assert listed.allows("image/svg+xml")
    assert not listed.allows("text/html")
    assert not listed.allows("text/plainx")


class TestOtherTenantsCannotTouchADirectUpload:
    """Tenant beta sees none of alpha's direct uploads: 404, and alpha's file stays."""

    @pytest.fixture
    async def stored(self, client_a):
        response = await client_a.post(DIRECT, files={"file": ("secret.txt", b"secret", "text/plain")})
        assert response.status_code == 201
        return response.json()

    async def test_get_complete_and_delete(self, client_a, client_b, stored, s3, tenant_a):
        for method, path in (
            ("GET", f"/api/v1/uploads/{stored['id']}"),
            ("POST", f"/api/v1/uploads/{stored['id']}/complete"),
            ("DELETE", f"/api/v1/uploads/{stored['id']}"),
        ):
            response = await client_b.request(method, path)
            assert response.status_code == 404, (method, path)
            assert response.json()["error"]["code"] == "upload_not_found"
        assert (await client_b.get("/api/v1/uploads")).json()["items"] == []
        assert s3.size_of(f"tenants/{tenant_a.id}/uploads/{stored['id']}/secret.txt") == 6
        assert (await client_a.get(f"/api/v1/uploads/{stored['id']}")).json()["status"] == "stored"


class TestPermissions:
    """Direct uploads need `uploads:write`; anonymous callers get nothing."""

    async def test_a_viewer_cannot_upload(self, app, db, settings, tenant_a):
        viewer = await create_user(db, tenant_a, role="viewer")
        async with signed_in(app, tenant_a, access_token(settings, tenant_a, viewer.id)) as client:
            response = await client.post(DIRECT, files={"file": ("a.txt", b"a", "text/plain")})
            assert response.status_code == 403
            assert response.json()["error"]["details"] == {"permission": "uploads:write"}
            assert await _rows(client) == 0

    async def test_anonymous_callers_are_401(self, app, tenant_a):
        async with client_for(app, host_of(tenant_a)) as anonymous:
            response = await anonymous.post(DIRECT, files={"file": ("a.txt", b"a", "text/plain")})
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "not_authenticated"


async def test_a_direct_upload_lists_like_a_signed_one(client_a):
    signed = await upload_file(client_a, b"signed", filename="signed.txt")
    direct = (await client_a.post(DIRECT, files={"file": ("direct.txt", b"direct", "text/plain")})).json()
    listed = (await client_a.get("/api/v1/uploads", params={"status": "stored"})).json()
    assert {u["id"] for u in listed["items"]} == {signed["id"], direct["id"]}
