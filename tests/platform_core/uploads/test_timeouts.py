"""An object store that does not answer: the request gives up after the configured timeouts, with 503."""

from __future__ import annotations

import asyncio

import pytest

from platform_core.uploads.models import UploadStatus
from platform_core.uploads.settings import get_s3_settings
from platform_core.uploads.storage import get_store
from tests.factories import create_upload
from tests.support.stalling import stalling_server

# Far below boto3's attempts at 30 s reads before these settings, far above the 1 s configured here.
DEADLINE = 15.0


async def test_a_store_that_does_not_answer_is_503_after_the_timeout(
    s3, client_a, db, tenant_a, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = await create_upload(db, tenant_a, status=UploadStatus.PENDING.value, stored_at=None)
    with stalling_server() as url:
        monkeypatch.setenv("S3_ENDPOINT_URL", url)
        monkeypatch.setenv("S3_READ_TIMEOUT_SECONDS", "1")
        monkeypatch.setenv("S3_MAX_ATTEMPTS", "1")
        get_s3_settings.cache_clear()
        get_store.cache_clear()
        response = await asyncio.wait_for(client_a.post(f"/api/v1/uploads/{upload.id}/complete"), DEADLINE)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "storage_unavailable"
