"""The upload cleanup in a real worker: pending uploads long past their link go, with their files."""

from __future__ import annotations

import uuid
from datetime import timedelta

from platform_core.kernel.db.base import utcnow
from platform_core.uploads.models import Upload
from platform_core.uploads.service import LATE_OBJECT_TASK, PENDING_GRACE
from tenants.lifecycle import PURGE_FILES_TASK
from tests.factories import UploadFactory
from tests.support.processes import tasks_ran, wait_until


def _upload(tenant, store, *, status: str, expired_ago: timedelta) -> Upload:
    upload = UploadFactory.build(
        status=status,
        stored_at=utcnow() if status == "stored" else None,
        expires_at=utcnow() - expired_ago,
        size_bytes=4,
    )
    upload.key = f"tenants/{tenant.id}/uploads/{upload.id}/{upload.filename}"
    store.client.put_object(Bucket=store.bucket, Key=upload.key, Body=b"data")
    return upload


def test_cleanup_removes_abandoned_uploads_of_its_tenant_only(
    sync_db, celery, start_worker, live_tenant, tenant_b, s3, s3_server
):
    long_ago = PENDING_GRACE + timedelta(hours=1)
    abandoned = _upload(live_tenant, s3, status="pending", expired_ago=long_ago)
    recent = _upload(live_tenant, s3, status="pending", expired_ago=timedelta(minutes=5))
    stored = _upload(live_tenant, s3, status="stored", expired_ago=long_ago)
    other = _upload(tenant_b, s3, status="pending", expired_ago=long_ago)
    with sync_db.sync_session(live_tenant.schema_name) as session:
        session.add_all([abandoned, recent, stored])
        session.commit()
    with sync_db.sync_session(tenant_b.schema_name) as session:
        session.add(other)
        session.commit()
    try:
        start_worker("uploads", extra_env=s3_server)
        celery.send_task("uploads.cleanup_expired", kwargs={"tenant_id": str(live_tenant.id)})

        def gone() -> bool:
            with sync_db.sync_session(live_tenant.schema_name) as session:
                return session.get(Upload, abandoned.id) is None

        wait_until(gone)
        assert s3.size_of(abandoned.key) is None
        with sync_db.sync_session(live_tenant.schema_name) as session:
            assert session.get(Upload, recent.id) is not None  # within the grace: may still complete
            assert session.get(Upload, stored.id) is not None
        assert (s3.size_of(recent.key), s3.size_of(stored.key)) == (4, 4)
        with sync_db.sync_session(tenant_b.schema_name) as session:
            assert session.get(Upload, other.id) is not None  # another tenant's upload is not touched
        assert s3.size_of(other.key) == 4
    finally:
        for tenant, upload in ((tenant_b, other), (live_tenant, recent), (live_tenant, stored)):
            with sync_db.sync_session(tenant.schema_name) as session:
                row = session.get(Upload, upload.id)
                if row is not None:
                    session.delete(row)
                    session.commit()


def test_purging_a_tenant_deletes_its_files_and_no_one_elses(
    sync_db, celery, start_worker, relay, tenant_service, tenant_b, s3, s3_server
):
    tenant = tenant_service.create(slug=f"gone-{uuid.uuid4().hex[:8]}", name="Gone")
    mine = [f"tenants/{tenant.id}/uploads/{uuid.uuid4()}/a.txt", f"tenants/{tenant.id}/reports/r.csv"]
    theirs = f"tenants/{tenant_b.id}/uploads/{uuid.uuid4()}/b.txt"
    for key in [*mine, theirs]:
        s3.client.put_object(Bucket=s3.bucket, Key=key, Body=b"data")
    start_worker("purge", extra_env=s3_server)
    tenant_service.mark_deleted(tenant.slug)
    tenant_service.purge(tenant.slug, force=True)
    wait_until(lambda: all(s3.size_of(key) is None for key in mine))
    assert s3.size_of(theirs) == 4
    s3.delete(theirs)


def test_the_worker_has_the_task_purge_queues(celery):
    assert PURGE_FILES_TASK in celery.tasks


def test_a_late_object_is_deleted_only_inside_its_tenants_prefix(
    sync_db, celery, start_worker, live_tenant, tenant_b, s3, s3_server
):
    mine = f"tenants/{live_tenant.id}/uploads/{uuid.uuid4()}/late.txt"
    theirs = f"tenants/{tenant_b.id}/uploads/{uuid.uuid4()}/theirs.txt"
    for key in (mine, theirs):
        s3.put(key, b"late", content_type="text/plain")
    start_worker("late", extra_env=s3_server)
    sent = [
        celery.send_task(LATE_OBJECT_TASK, kwargs={"tenant_id": str(live_tenant.id), "key": key})
        for key in (mine, theirs)  # the second names another tenant's key: refused
    ]
    wait_until(lambda: tasks_ran(sync_db, [r.id for r in sent]))
    assert s3.size_of(mine) is None
    assert s3.size_of(theirs) == 4
    s3.delete(theirs)
