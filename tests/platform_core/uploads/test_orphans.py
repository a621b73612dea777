"""Objects under a tenant's prefix that no row refers to are removed once a day old, and nothing else."""

from __future__ import annotations

import uuid
from datetime import timedelta

from platform_core.kernel.db.base import utcnow
from platform_core.reports.models import Report
from platform_core.uploads.models import Upload
from platform_core.uploads.orphans import delete_orphans
from tests.factories import UploadFactory


def test_only_old_objects_without_a_row_of_this_tenant_go(sync_db, tenant_service, tenant_b, s3):
    tenant = tenant_service.create(slug=f"orph-{uuid.uuid4().hex[:8]}", name="Orphans")
    prefix = f"tenants/{tenant.id}"
    tracked_upload = UploadFactory.build()
    tracked_upload.key = f"{prefix}/uploads/{tracked_upload.id}/{tracked_upload.filename}"
    report_id = uuid.uuid4()
    tracked_report = Report(
        id=report_id,
        kind="items_csv",
        filename="r.csv",
        content_type="text/csv",
        size_bytes=1,
        key=f"{prefix}/reports/{report_id}/r.csv",
    )
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        session.add_all([tracked_upload, tracked_report])
    orphan_upload = f"{prefix}/uploads/{uuid.uuid4()}/lost.bin"
    orphan_report = f"{prefix}/reports/{uuid.uuid4()}/lost.csv"
    unknown_layout = f"{prefix}/exports/archive.zip"
    not_an_id = f"{prefix}/uploads/not-a-uuid/x.bin"
    other_tenant = f"tenants/{tenant_b.id}/uploads/{uuid.uuid4()}/theirs.bin"
    keys = [
        tracked_upload.key,
        tracked_report.key,
        orphan_upload,
        orphan_report,
        unknown_layout,
        not_an_id,
        other_tenant,
    ]
    for key in keys:
        s3.put(key, b"x", content_type="application/octet-stream")
    try:
        with sync_db.sync_session(tenant.schema_name) as session, session.begin():
            for kind, rows in (("uploads", Upload), ("reports", Report)):
                # a day has not passed: maybe in flight
                assert delete_orphans(session, s3, tenant.id, kind=kind, rows=rows) == 0
        with sync_db.sync_session(tenant.schema_name) as session, session.begin():
            later = utcnow() + timedelta(days=2)
            # each kind is swept with its own table (uploads by the uploads task, reports by reports')
            assert delete_orphans(session, s3, tenant.id, kind="uploads", rows=Upload, now=later) == 1
            assert delete_orphans(session, s3, tenant.id, kind="reports", rows=Report, now=later) == 1
        left = {key for key in keys if s3.size_of(key) is not None}
        assert left == set(keys) - {orphan_upload, orphan_report}
    finally:
        for key in keys:
            s3.delete(key)
