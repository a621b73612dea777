"""The console's reports and job pages over HTTP: requesting a report (a job and its task in one
transaction, once per form), the job's page and its progress answer, downloading the built report,
the plan's and the permissions' refusals, and other tenants' jobs and reports."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from platform_core.jobs.models import Job
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.outbox import OutboxMessage
from platform_core.reports.models import Report
from tests.platform_core.console.data_support import error_of, signed_in_as, token
from tests.platform_core.console.support import nonce_of


@pytest.fixture
async def owner(app, db, tenant_a) -> Any:
    """Alpha's owner (a plan with reports), signed in to the console."""
    async with signed_in_as(app, db, tenant_a, "owner") as client:
        yield client


async def _jobs(db, tenant) -> list[Job]:
    async with db.session(tenant.schema_name) as session:
        return list((await session.scalars(select(Job))).all())


async def _built(db, tenant, *, status: str = "succeeded", content: bytes = b"id,title\n") -> Job:
    job = Job(
        id=uuid.uuid4(),
        type="report.items_csv",
        status=status,
        progress=100 if status == "succeeded" else 40,
        params={"kind": "items_csv"},
        result_url=None,
        started_at=utcnow(),
    )
    async with db.session(tenant.schema_name) as session:
        session.add(job)
        if status == "succeeded":
            job.result_url = f"/api/v1/reports/{job.id}/download"
            job.finished_at = utcnow()
            session.add(
                Report(
                    id=job.id,
                    kind="items_csv",
                    filename="items-1.csv",
                    content_type="text/csv; charset=utf-8",
                    size_bytes=len(content),
                    content=content,
                )
            )
        await session.commit()
    return job


async def test_request_a_report_once_and_follow_its_job(owner, db, tenant_a):
    page = await owner.get("/reports")
    assert page.status_code == 200
    assert "Request report" in page.text
    data = {
        "csrf_token": await token(owner, "/reports"),
        "form_nonce": nonce_of(page.text),
        "kind": "items_csv",
        "notify": "1",
    }
    requested = await owner.post("/reports", data=data)
    assert requested.status_code == 303
    (job,) = await _jobs(db, tenant_a)
    assert requested.headers["location"] == f"/jobs/{job.id}"
    assert (job.type, job.status, job.params) == (
        "report.items_csv",
        "queued",
        {"kind": "items_csv", "notify_email": owner.user.email},
    )
    async with db.session(None) as session:
        outbox = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_a.id))
        ).all()
    assert [(m.task_name, m.kwargs["job_id"]) for m in outbox] == [("reports.items_csv", str(job.id))]

    job_page = await owner.get(f"/jobs/{job.id}")
    assert job_page.status_code == 200
    assert "Report requested." in job_page.text
    assert "<h1>Report: Items (CSV)</h1>" in job_page.text
    assert f'data-job-progress="/jobs/{job.id}/progress"' in job_page.text
    assert re.search(r'<script src="/assets/jobs\.js\?v=[0-9a-f]+" defer>', job_page.text)
    assert owner.user.email in job_page.text
    progress = await owner.get(f"/jobs/{job.id}/progress")
    assert progress.json() == {"status": "queued", "label": "Queued", "progress": 0, "finished": False}

    again = await owner.post("/reports", data=data)  # the same form sent twice
    assert (again.status_code, again.headers["location"]) == (303, "/reports")
    assert len(await _jobs(db, tenant_a)) == 1
    listing = await owner.get("/reports")
    assert "That report was already requested." in listing.text
    assert f'href="/jobs/{job.id}"' in listing.text


async def test_a_finished_report_downloads_from_its_page(owner, db, tenant_a):
    job = await _built(db, tenant_a, content=b"id,title\n1,one\n")
    page = await owner.get(f"/jobs/{job.id}")
    assert "Download the report" in page.text
    assert "jobs.js" not in page.text  # nothing left to follow
    assert (await owner.get(f"/jobs/{job.id}/progress")).json()["finished"] is True
    download = await owner.get(f"/reports/{job.id}/download")
    assert download.status_code == 200
    assert download.content == b"id,title\n1,one\n"
    assert download.headers["content-disposition"] == 'attachment; filename="items-1.csv"'
    assert f'href="/reports/{job.id}/download"' in (await owner.get("/reports")).text


async def test_a_failed_job_says_so(owner, db, tenant_a):
    job = await _built(db, tenant_a, status="failed")
    async with db.session(tenant_a.schema_name) as session:
        row = await session.get(Job, job.id)
        assert row is not None
        row.error = "BadTaskArguments: colour"
        await session.commit()
    page = await owner.get(f"/jobs/{job.id}")
    assert "This job failed." in page.text
    assert "BadTaskArguments: colour" in page.text
    assert "Download" not in page.text
    assert "Failed" in (await owner.get("/reports?status=failed")).text
    assert "No reports match these filters." in (await owner.get("/reports?status=queued")).text


async def test_a_free_plan_has_no_reports(app, db, tenant_b):
    async with signed_in_as(app, db, tenant_b, "owner") as owner_b:
        page = await owner_b.get("/reports")
        assert page.status_code == 200
        assert "The Free plan does not include reports: upgrade to use it." in page.text
        assert "Request report" not in page.text
        refused = await owner_b.post(
            "/reports", data={"csrf_token": await token(owner_b), "kind": "items_csv"}
        )
        assert refused.status_code == 403
        assert "does not include reports" in refused.text
    assert await _jobs(db, tenant_b) == []


async def test_a_viewer_follows_jobs_but_neither_requests_nor_downloads(app, db, tenant_a):
    job = await _built(db, tenant_a)
    async with signed_in_as(app, db, tenant_a, "viewer") as viewer:
        page = await viewer.get("/reports")
        assert page.status_code == 200
        assert "Request report" not in page.text
        assert f"/reports/{job.id}/download" not in page.text
        job_page = await viewer.get(f"/jobs/{job.id}")
        assert job_page.status_code == 200
        assert "Download the report" not in job_page.text
        assert (await viewer.get(f"/reports/{job.id}/download")).status_code == 403
        refused = await viewer.post("/reports", data={"csrf_token": await token(viewer), "kind": "items_csv"})
        assert refused.status_code == 403
    assert len(await _jobs(db, tenant_a)) == 1


async def test_another_tenants_job_and_report_are_the_404_page(owner, db, tenant_b):
    other = await _built(db, tenant_b)
    assert (await owner.get(f"/jobs/{other.id}")).status_code == 404
    assert (await owner.get(f"/jobs/{other.id}/progress")).status_code == 404
    assert (await owner.get(f"/reports/{other.id}/download")).status_code == 404


async def test_an_unknown_report_is_shown_on_the_form(owner, db, tenant_a):
    page = await owner.get("/reports")
    data = {"csrf_token": await token(owner), "form_nonce": nonce_of(page.text), "kind": "pdf"}
    refused = await owner.post("/reports", data=data)
    assert refused.status_code == 422
    assert error_of(refused.text, "kind").startswith("Input should be 'items_csv'")
    assert await _jobs(db, tenant_a) == []
    data["kind"] = "items_csv"
    assert (await owner.post("/reports", data=data)).status_code == 303  # the nonce was not spent
    bad_filter = await owner.get("/reports?type=report.pdf")
    assert bad_filter.status_code == 422
    assert error_of(bad_filter.text, "type") == "Choose one of the reports."


async def test_a_reports_job_page_marks_reports_in_the_nav(owner, db, tenant_a):
    job = await _built(db, tenant_a)
    html = (await owner.get(f"/jobs/{job.id}")).text
    assert '<a href="/reports" aria-current="page">Reports</a>' in html
