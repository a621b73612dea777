"""The plan's storage: uploads reserve their size under a per-tenant lock; 402 beyond the plan."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from billing.catalog import get_catalog
from platform_core.app.main import create_app
from platform_core.kernel.db.engines import Database
from platform_core.uploads.models import Upload
from tests.conftest import owner_client
from tests.factories import UploadFactory, create_upload
from tests.support.uploads import send_file, upload_file

pytestmark = pytest.mark.usefixtures("s3")
PRO = get_catalog().plan("pro").entitlements.storage_bytes
FREE = get_catalog().plan("free").entitlements.storage_bytes


def _ask(size: int, filename: str = "f.bin") -> dict:
    return {"filename": filename, "content_type": "application/octet-stream", "size_bytes": size}


async def test_an_upload_beyond_the_plan_is_402_with_the_numbers(client_a, db, tenant_a):
    await create_upload(db, tenant_a, size_bytes=PRO - 10)
    refused = await client_a.post("/api/v1/uploads", json=_ask(11))
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "storage_limit_reached"
    assert error["details"] == {
        "storage_used_bytes": PRO - 10,
        "storage_reserved_bytes": 0,
        "storage_allowed_bytes": PRO,
        "requested_bytes": 11,
        "plan": "pro",
    }
    assert error["message"] == (
        "This file needs 11 bytes but only 10 bytes of the Pro plan's 50.0 GiB are free: upgrade, or "
        "delete files."
    )
    assert (await client_a.post("/api/v1/uploads", json=_ask(10))).status_code == 201  # exactly full


async def test_pending_uploads_hold_their_size_until_their_link_expires(client_a, db, tenant_a):
    pending = await create_upload(db, tenant_a, size_bytes=PRO - 10, status="pending", stored_at=None)
    refused = await client_a.post("/api/v1/uploads", json=_ask(11))
    assert refused.status_code == 402
    details = refused.json()["error"]["details"]
    assert (details["storage_used_bytes"], details["storage_reserved_bytes"]) == (0, PRO - 10)
    async with db.session(tenant_a.schema_name) as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(Upload).where(Upload.id == pending.id).values(expires_at=past))
        await session.commit()
    assert (await client_a.post("/api/v1/uploads", json=_ask(11))).status_code == 201


async def test_deleting_frees_the_quota(client_a, db, tenant_a):
    await create_upload(db, tenant_a, size_bytes=PRO - 100)
    stored = await upload_file(client_a, b"x" * 100)
    assert (await client_a.post("/api/v1/uploads", json=_ask(1))).status_code == 402
    assert (await client_a.delete(f"/api/v1/uploads/{stored['id']}")).status_code == 204
    assert (await client_a.post("/api/v1/uploads", json=_ask(100))).status_code == 201


async def test_a_completion_that_no_longer_fits_is_402_and_its_file_discarded(client_a, db, tenant_a, s3):
    created = await client_a.post("/api/v1/uploads", json=_ask(100))
    assert (await send_file(created.json(), b"y" * 100)).status_code == 204
    async with db.session(tenant_a.schema_name) as session:  # its link expired, and others filled up
        past = datetime.now(UTC) - timedelta(minutes=1)
        await session.execute(update(Upload).where(Upload.id == created.json()["id"]).values(expires_at=past))
        await session.commit()
    await create_upload(db, tenant_a, size_bytes=PRO - 50)
    refused = await client_a.post(f"/api/v1/uploads/{created.json()['id']}/complete")
    assert refused.status_code == 402
    assert refused.json()["error"]["details"]["requested_bytes"] == 100
    assert s3.size_of(created.json()["upload"]["fields"]["key"]) is None


async def test_billing_shows_the_bytes_stored(client_a, client_b, db, tenant_a):
    before_b = (await client_b.get("/api/v1/billing")).json()["storage_used_bytes"]
    await upload_file(client_a, b"z" * 1234)
    await upload_file(client_a, b"w" * 66)
    await client_a.post("/api/v1/uploads", json=_ask(5000))  # pending: reserved, not stored
    billing = (await client_a.get("/api/v1/billing")).json()
    assert (billing["storage_used_bytes"], billing["storage_allowed_bytes"]) == (1300, PRO)
    assert (await client_b.get("/api/v1/billing")).json()["storage_used_bytes"] == before_b


async def test_concurrent_uploads_cannot_share_the_last_bytes(settings, sync_db, tenant_service):
    """Two requests for the last free bytes at the same instant: one 201, one 402 (the sum is locked)."""
    tenant = tenant_service.create(slug=f"store-{uuid.uuid4().hex[:8]}", name="Last bytes")  # free plan
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
                    *(client.post("/api/v1/uploads", json=_ask(600, f"{n}.bin")) for n in "ab")
                )
                assert sorted(a.status_code for a in answers) == [201, 402], [a.text for a in answers]
                winner = next(a.json() for a in answers if a.status_code == 201)
                assert (await client.delete(f"/api/v1/uploads/{winner['id']}")).status_code == 204
        with sync_db.sync_session(tenant.schema_name) as session:
            assert session.scalar(select(func.count()).select_from(Upload)) == 1  # the filler alone
    finally:
        await app.state.redis.aclose()
        await database.dispose()
