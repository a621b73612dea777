"""Reports kept in the object storage: built by a worker with a bucket, downloaded by a signed link,
removed by the daily report cleanup. A module of its own: only workers given the bucket may run here."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import httpx

from platform_core.jobs.models import Job
from platform_core.kernel.db.base import utcnow
from platform_core.reports.models import Report
from tests.conftest import owner_client
from tests.support.processes import finished_job, wait_until


async def test_with_a_bucket_the_report_is_kept_in_it_and_downloaded_by_a_signed_link(
    live_app, settings, sync_db, live_tenant, tenant_b, relay, start_worker, s3, s3_server
):
    start_worker("reports-s3", extra_env=s3_server)
    async with owner_client(live_app, settings, sync_db, live_tenant) as client:
        title = f"in-the-bucket-{uuid.uuid4().hex[:6]}"
        assert (await client.post("/api/v1/items", json={"title": title})).status_code == 201
        job_id = (await client.post("/api/v1/reports", json={"kind": "items_csv"})).json()["id"]
        job = await finished_job(client, job_id)
        assert job["status"] == "succeeded", job
        with sync_db.sync_session(live_tenant.schema_name) as session:
            report = session.get_one(Report, uuid.UUID(job_id))
        assert report.content is None
        assert report.key == f"tenants/{live_tenant.id}/reports/{job_id}/{report.filename}"
        redirect = await client.get(job["result_url"])
        assert redirect.status_code == 307
        assert redirect.headers["cache-control"] == "no-store"
        async with httpx.AsyncClient() as browser:
            fetched = await browser.get(redirect.headers["location"])
        assert fetched.status_code == 200
        assert "attachment" in fetched.headers["content-disposition"]
        assert title in {r["title"] for r in csv.DictReader(io.StringIO(fetched.text))}
    async with owner_client(live_app, settings, sync_db, tenant_b) as other:
        assert (await other.get(job["result_url"])).status_code == 404


def test_report_cleanup_deletes_old_reports_and_their_files(
    sync_db, celery, start_worker, live_tenant, s3, s3_server
):
    long_ago = utcnow() - timedelta(days=90)
    job_id = uuid.uuid4()
    key = f"tenants/{live_tenant.id}/reports/{job_id}/old.csv"
    s3.put(key, b"id,title\n", content_type="text/csv")
    with sync_db.sync_session(live_tenant.schema_name) as session:
        session.add(
            Job(id=job_id, type="report.items_csv", status="succeeded", params={}, finished_at=long_ago)
        )
        session.flush()
        session.add(
            Report(
                id=job_id,
                kind="items_csv",
                filename="old.csv",
                content_type="text/csv",
                size_bytes=9,
                key=key,
                created_at=long_ago,
            )
        )
        session.commit()
    start_worker("cleanup-s3", extra_env=s3_server)
    celery.send_task("reports.cleanup", kwargs={"tenant_id": str(live_tenant.id)})

    def gone() -> bool:
        with sync_db.sync_session(live_tenant.schema_name) as session:
            return session.get(Report, job_id) is None

    wait_until(gone)
    assert s3.size_of(key) is None
