"""Uploads API against a real S3-compatible server: forms, completion, downloads, isolation, input."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from platform_core.kernel.outbox import OutboxMessage
from platform_core.uploads.models import Upload
from platform_core.uploads.service import LATE_OBJECT_TASK, key_name
from tests.conftest import client_for, host_of, signed_in
from tests.factories import access_token, create_upload, create_user
from tests.support.uploads import send_file, upload_file

pytestmark = pytest.mark.usefixtures("s3")


async def _create(client, filename="notes.txt", size=5, content_type="text/plain") -> dict:
    response = await client.post(
        "/api/v1/uploads", json={"filename": filename, "content_type": content_type, "size_bytes": size}
    )
    assert response.status_code == 201, response.text
    return response.json()


def _policy(created: dict) -> dict:
    return json.loads(base64.b64decode(created["upload"]["fields"]["policy"]))


async def test_upload_send_complete_and_download(client_a, tenant_a, owner_a):
    created = await _create(client_a, filename="Quarterly report.txt", size=11)
    assert created["status"] == "pending"
    assert created["size_bytes"] == 11
    assert created["stored_at"] is None
    assert created["uploaded_by_id"] == str(owner_a.id)
    assert created["upload"]["method"] == "POST"

    assert (await send_file(created, b"hello world")).status_code == 204
    completed = await client_a.post(f"/api/v1/uploads/{created['id']}/complete")
    assert completed.status_code == 200, completed.text
    body = completed.json()
    assert (body["status"], body["size_bytes"]) == ("stored", 11)
    assert body["stored_at"] is not None

    fetched = (await client_a.get(f"/api/v1/uploads/{created['id']}")).json()
    async with httpx.AsyncClient() as storage:
        download = await storage.get(fetched["download_url"])
    assert download.status_code == 200
    assert download.content == b"hello world"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Quarterly report.txt"')
    assert "filename*=UTF-8''Quarterly%20report.txt" in disposition
    listed = (await client_a.get("/api/v1/uploads")).json()
    assert [(u["id"], u["status"]) for u in listed["items"]] == [(created["id"], "stored")]


async def test_the_form_pins_key_size_type_and_expiry(client_a, tenant_a):
    before = datetime.now(UTC)
    created = await _create(
        client_a, filename="Résumé (final).PDF", size=1234, content_type="application/pdf"
    )
    key = created["upload"]["fields"]["key"]
    assert key == f"tenants/{tenant_a.id}/uploads/{created['id']}/Resume_final_.PDF"
    policy = _policy(created)
    conditions = policy["conditions"]
    assert ["content-length-range", 1234, 1234] in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert {"key": key} in conditions
    expires = datetime.fromisoformat(created["upload"]["expires_at"])
    assert before + timedelta(seconds=890) < expires < before + timedelta(seconds=910)
    policy_expiry = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert abs((policy_expiry - expires).total_seconds()) < 5


def _keys(s3, prefix: str) -> set[str]:
    pages = s3.client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


async def test_each_tenant_stores_under_its_own_prefix(client_a, client_b, tenant_a, tenant_b, s3):
    # The bucket outlives the rolled-back test transactions: look for this test's files only.
    mine = await upload_file(client_a, b"alpha data", filename="a.txt")
    theirs = await upload_file(client_b, b"beta data", filename="b.txt")
    key_a = f"tenants/{tenant_a.id}/uploads/{mine['id']}/a.txt"
    key_b = f"tenants/{tenant_b.id}/uploads/{theirs['id']}/b.txt"
    under_a, under_b = _keys(s3, f"tenants/{tenant_a.id}/"), _keys(s3, f"tenants/{tenant_b.id}/")
    assert key_a in under_a
    assert key_b in under_b
    assert not any(theirs["id"] in key for key in under_a)
    assert not any(mine["id"] in key for key in under_b)


class TestOtherTenantsCannotTouchAnUpload:
    """Tenant beta sees none of alpha's uploads, stored or pending: 404, and alpha's file stays."""

    @pytest.fixture
    async def stored(self, client_a):
        return await upload_file(client_a, b"secret", filename="secret.txt")

    async def test_get(self, client_b, stored):
        response = await client_b.get(f"/api/v1/uploads/{stored['id']}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "upload_not_found"

    async def test_list(self, client_b, stored):
        assert (await client_b.get("/api/v1/uploads")).json()["items"] == []
        filtered = await client_b.get("/api/v1/uploads", params={"status": "stored"})
        assert filtered.json()["total"] == 0

    async def test_complete(self, client_a, client_b):
        pending = await _create(client_a, size=6)
        assert (await send_file(pending, b"secret")).status_code == 204
        response = await client_b.post(f"/api/v1/uploads/{pending['id']}/complete")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "upload_not_found"
        assert (await client_a.get(f"/api/v1/uploads/{pending['id']}")).json()["status"] == "pending"

    async def test_delete(self, client_a, client_b, stored, s3, tenant_a):
        response = await client_b.delete(f"/api/v1/uploads/{stored['id']}")
        assert response.status_code == 404
        still = await client_a.get(f"/api/v1/uploads/{stored['id']}")
        assert still.json()["status"] == "stored"
        assert s3.size_of(f"tenants/{tenant_a.id}/uploads/{stored['id']}/secret.txt") == 6

    async def test_an_unknown_id_is_the_same_404(self, client_b):
        response = await client_b.get(f"/api/v1/uploads/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "upload_not_found"


async def test_complete_without_the_file_is_409(client_a):
    created = await _create(client_a)
    response = await client_a.post(f"/api/v1/uploads/{created['id']}/complete")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "upload_not_received"
    assert (await client_a.get(f"/api/v1/uploads/{created['id']}")).json()["status"] == "pending"


async def test_a_file_of_another_size_is_refused_and_discarded(client_a, s3):
    created = await _create(client_a, size=5)
    # The local server does not enforce the form's length condition; S3 does. Either way, completion
    # checks the size itself.
    assert (await send_file(created, b"more than five bytes")).status_code == 204
    response = await client_a.post(f"/api/v1/uploads/{created['id']}/complete")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "upload_size_mismatch"
    assert error["details"] == {"declared_bytes": 5, "received_bytes": 20}
    assert s3.size_of(created["upload"]["fields"]["key"]) is None
    assert (await client_a.get(f"/api/v1/uploads/{created['id']}")).json()["status"] == "pending"
    # The same form can still send the right file.
    assert (await send_file(created, b"right")).status_code == 204
    assert (await client_a.post(f"/api/v1/uploads/{created['id']}/complete")).status_code == 200


async def test_a_file_sent_as_another_type_is_refused_and_discarded(client_a, s3):
    created = await _create(client_a, filename="avatar.png", size=13, content_type="image/png")
    # The local server ignores the form's Content-Type condition (S3 enforces it): the file is stored
    # as whatever the form said. Completion compares the stored type with the declared one.
    forged = {**created, "upload": {**created["upload"], "fields": {**created["upload"]["fields"]}}}
    forged["upload"]["fields"]["Content-Type"] = "text/html"
    forged["content_type"] = "text/html"
    assert (await send_file(forged, b"<b>hello</b>!")).status_code == 204
    key = created["upload"]["fields"]["key"]
    assert s3.head(key).content_type == "text/html"
    response = await client_a.post(f"/api/v1/uploads/{created['id']}/complete")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "upload_content_type_mismatch"
    assert error["details"] == {"declared_content_type": "image/png", "received_content_type": "text/html"}
    assert s3.size_of(key) is None
    assert (await client_a.get(f"/api/v1/uploads/{created['id']}")).json()["status"] == "pending"
    # The form, sent as signed, still works.
    assert (await send_file(created, b"13 bytes of p")).status_code == 204
    assert (await client_a.post(f"/api/v1/uploads/{created['id']}/complete")).status_code == 200


async def test_completing_twice_changes_nothing(client_a):
    stored = await upload_file(client_a, b"once")
    again = await client_a.post(f"/api/v1/uploads/{stored['id']}/complete")
    assert again.status_code == 200
    assert (again.json()["status"], again.json()["stored_at"]) == ("stored", stored["stored_at"])


async def test_delete_removes_the_file_and_the_row_and_is_audited(client_a, s3, tenant_a):
    stored = await upload_file(client_a, b"bye", filename="bye.txt")
    key = f"tenants/{tenant_a.id}/uploads/{stored['id']}/bye.txt"
    assert s3.size_of(key) == 3
    assert (await client_a.delete(f"/api/v1/uploads/{stored['id']}")).status_code == 204
    assert s3.size_of(key) is None
    assert (await client_a.get(f"/api/v1/uploads/{stored['id']}")).status_code == 404
    assert (await client_a.delete(f"/api/v1/uploads/{stored['id']}")).status_code == 404
    audit = (await client_a.get("/api/v1/audit", params={"action": "upload.deleted"})).json()
    [entry] = audit["items"]
    assert entry["target"] == {"type": "upload", "id": stored["id"]}
    assert entry["details"] == {"filename": "bye.txt", "size_bytes": 3, "status": "stored"}


async def test_deleting_a_pending_upload_works_too(client_a):
    created = await _create(client_a)
    assert (await client_a.delete(f"/api/v1/uploads/{created['id']}")).status_code == 204
    assert (await client_a.get(f"/api/v1/uploads/{created['id']}")).status_code == 404


async def test_a_deleted_uploads_form_still_works_so_its_key_is_cleared_once_the_form_expires(
    client_a, db, tenant_a, s3
):
    created = await _create(client_a, size=3)
    assert (await client_a.delete(f"/api/v1/uploads/{created['id']}")).status_code == 204
    resent = await send_file(created, b"abc")  # S3 honours the form until it expires
    assert resent.status_code in (200, 201, 204)
    key = f"tenants/{tenant_a.id}/uploads/{created['id']}/notes.txt"
    async with db.session(None) as session:
        [row] = (
            await session.execute(
                select(OutboxMessage).where(
                    OutboxMessage.task_name == LATE_OBJECT_TASK, OutboxMessage.kwargs["key"].astext == key
                )
            )
        ).scalars()
    assert row.tenant_id == tenant_a.id
    form_expires = datetime.fromisoformat(created["upload"]["expires_at"])
    assert form_expires < row.available_at <= form_expires + timedelta(seconds=70)
    s3.delete(key)


async def test_list_pages_newest_first_and_filters_by_status(client_a, db, tenant_a):
    old = await create_upload(db, tenant_a, filename="old.bin")
    pending = await create_upload(
        db, tenant_a, filename="pending.bin", status="pending", stored_at=None, size_bytes=7
    )
    expired = await create_upload(
        db,
        tenant_a,
        filename="expired.bin",
        status="pending",
        stored_at=None,
        expires_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    async with db.session(tenant_a.schema_name) as session:  # distinct creation times, oldest first
        for minutes, upload in ((3, old), (2, pending), (1, expired)):
            created = datetime.now(UTC) - timedelta(minutes=minutes)
            await session.execute(update(Upload).where(Upload.id == upload.id).values(created_at=created))
        await session.commit()
    first = (await client_a.get("/api/v1/uploads", params={"page_size": 2})).json()
    assert (first["total"], first["page"], first["page_size"]) == (3, 1, 2)
    assert [u["filename"] for u in first["items"]] == ["expired.bin", "pending.bin"]
    second = (await client_a.get("/api/v1/uploads", params={"page_size": 2, "page": 2})).json()
    assert [u["filename"] for u in second["items"]] == ["old.bin"]
    beyond = (await client_a.get("/api/v1/uploads", params={"page_size": 2, "page": 5})).json()
    assert (beyond["items"], beyond["total"]) == ([], 3)
    for status, name in (("stored", "old.bin"), ("pending", "pending.bin"), ("expired", "expired.bin")):
        page = (await client_a.get("/api/v1/uploads", params={"status": status})).json()
        assert [(u["filename"], u["status"]) for u in page["items"]] == [(name, status)]
    assert (await client_a.get("/api/v1/uploads", params={"status": "lost"})).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"filename": "a.txt", "size_bytes": -1},
        {"filename": "a.txt", "size_bytes": 5 * 1024**3 + 1},
        {"filename": "a.txt", "size_bytes": 10**40},
        {"filename": "a.txt", "size_bytes": 1.5},
        {"filename": "a.txt", "size_bytes": "12"},
        {"filename": "a.txt", "size_bytes": True},
        {"filename": "a.txt"},
        {"filename": "", "size_bytes": 1},
        {"filename": "   ", "size_bytes": 1},
        {"filename": "../../etc/passwd", "size_bytes": 1},
        {"filename": "..", "size_bytes": 1},
        {"filename": "dir/a.txt", "size_bytes": 1},
        {"filename": "dir\\a.txt", "size_bytes": 1},
        {"filename": "a\x00.txt", "size_bytes": 1},
        {"filename": "a\r\nb.txt", "size_bytes": 1},
        {"filename": "invoice\u202etxt.exe", "size_bytes": 1},
        {"filename": "x" * 256, "size_bytes": 1},
        {"filename": "a.txt", "size_bytes": 1, "content_type": "text"},
        {"filename": "a.txt", "size_bytes": 1, "content_type": "text/html\r\nx-evil: 1"},
        {"filename": "a.txt", "size_bytes": 1, "content_type": "text/plain\x00"},
        {"filename": "a.txt", "size_bytes": 1, "content_type": "a/" + "b" * 300},
        {"filename": "a.txt", "size_bytes": 1, "key": "tenants/other/uploads/x"},
        {"filename": 5, "size_bytes": 1},
    ],
    ids=lambda body: repr(body)[:60],
)
async def test_bad_input_is_422(client_a, body):
    response = await client_a.post("/api/v1/uploads", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_a_body_that_is_not_json_is_422(client_a):
    response = await client_a.post(
        "/api/v1/uploads", content=b"\x00{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize("path", ["/api/v1/uploads/not-a-uuid", "/api/v1/uploads/not-a-uuid/complete"])
async def test_a_malformed_id_is_422(client_a, path):
    method = "POST" if path.endswith("complete") else "GET"
    assert (await client_a.request(method, path)).status_code == 422


async def test_accepted_names_and_types(client_a):
    created = await _create(
        client_a, filename="  Übersicht 2026 — v2.tar.gz ", content_type="Text/Plain; Charset=UTF-8", size=0
    )
    assert created["filename"] == "Übersicht 2026 — v2.tar.gz"
    assert created["content_type"] == "text/plain; charset=utf-8"
    assert created["upload"]["fields"]["key"].endswith("/Ubersicht_2026_v2.tar.gz")
    assert (await send_file(created, b"")).status_code == 204
    assert (await client_a.post(f"/api/v1/uploads/{created['id']}/complete")).json()["status"] == "stored"


def test_key_names_are_plain_ascii_and_bounded():
    assert key_name("photo.JPG") == "photo.JPG"
    assert key_name("日本語.txt") == "txt"
    assert key_name("...hidden") == "hidden"
    assert key_name("日本語") == "file"
    long_name = key_name("a" * 300 + ".pdf")
    assert (len(long_name), long_name[-4:]) == (100, ".pdf")
    assert len(key_name("b" * 300)) == 100


class TestPermissions:
    """Viewers read uploads but cannot write them; anonymous callers get nothing."""

    async def test_a_viewer_reads_but_cannot_upload_complete_or_delete(
        self, app, db, settings, tenant_a, client_a
    ):
        stored = await upload_file(client_a, b"shared")
        viewer = await create_user(db, tenant_a, role="viewer")
        async with signed_in(app, tenant_a, access_token(settings, tenant_a, viewer.id)) as client:
            assert (await client.get("/api/v1/uploads")).json()["total"] == 1
            assert (await client.get(f"/api/v1/uploads/{stored['id']}")).json()["download_url"]
            for method, path in (
                ("POST", "/api/v1/uploads"),
                ("POST", f"/api/v1/uploads/{stored['id']}/complete"),
                ("DELETE", f"/api/v1/uploads/{stored['id']}"),
            ):
                body = {"filename": "a.txt", "size_bytes": 1} if path.endswith("uploads") else None
                response = await client.request(method, path, json=body)
                assert response.status_code == 403, (method, path)
                assert response.json()["error"]["details"] == {"permission": "uploads:write"}

    async def test_anonymous_callers_are_401(self, app, tenant_a, client_a):
        stored = await upload_file(client_a, b"x")
        async with client_for(app, host_of(tenant_a)) as anonymous:
            for method, path in (
                ("GET", "/api/v1/uploads"),
                ("POST", "/api/v1/uploads"),
                ("GET", f"/api/v1/uploads/{stored['id']}"),
                ("POST", f"/api/v1/uploads/{stored['id']}/complete"),
                ("DELETE", f"/api/v1/uploads/{stored['id']}"),
            ):
                response = await anonymous.request(method, path, json={"filename": "a.txt", "size_bytes": 1})
                assert response.status_code == 401, (method, path)
                assert response.json()["error"]["code"] == "not_authenticated"


async def test_without_a_configured_bucket_uploads_answer_503(client_a, monkeypatch):
    from platform_core.uploads.settings import get_s3_settings
    from platform_core.uploads.storage import get_store

    monkeypatch.setenv("S3_BUCKET", "")
    get_s3_settings.cache_clear()
    get_store.cache_clear()
    response = await client_a.post("/api/v1/uploads", json={"filename": "a.txt", "size_bytes": 1})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert (await client_a.get("/api/v1/uploads")).status_code == 200  # listing needs no storage
