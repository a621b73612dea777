"""A report job end to end: HTTP request, outbox, relay, worker, job record, download; and isolation."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from sqlalchemy import delete

from platform_core.items.models import Item
from platform_core.jobs.models import Job
from platform_core.kernel.outbox import enqueue
from tests.conftest import owner_client
from tests.support.processes import finished_job, wait_until


async def test_report_job_runs_and_is_visible_only_to_its_tenant(
    live_app, settings, sync_db, live_tenant, tenant_b, relay, worker
):
    async with owner_client(live_app, settings, sync_db, live_tenant) as client:
        for title in ("first", "second, with comma", "third"):
            assert (
                await client.post("/api/v1/items", json={"title": title, "tags": ["r"]})
            ).status_code == 201
        started = await client.post("/api/v1/reports", json={"kind": "items_csv"})
        assert started.status_code == 202
        job_id = started.json()["id"]

        job = await finished_job(client, job_id)
        assert job["status"] == "succeeded", job
        assert job["progress"] == 100
        assert job["started_at"] is not None
        assert job["finished_at"] is not None
        download = await client.get(job["result_url"])
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(download.text)))
        assert {"first", "second, with comma", "third"} <= {r["title"] for r in rows}

    async with owner_client(live_app, settings, sync_db, tenant_b) as other:
        assert (await other.get(f"/api/v1/jobs/{job_id}")).status_code == 404
        assert (await other.get(job["result_url"])).status_code == 404
        assert job_id not in {j["id"] for j in (await other.get("/api/v1/jobs")).json()["items"]}


def test_wait_until_fails_loudly():
    with pytest.raises(AssertionError, match="not met"):
        wait_until(lambda: False, timeout=0.1)


def test_job_sent_bad_arguments_fails_with_a_clear_error(sync_db, live_tenant, relay, worker):
    job_id = uuid.uuid4()
    with sync_db.sync_session(live_tenant.schema_name) as session:
        session.add(Job(id=job_id, type="report.items_csv", status="queued", params={}))
        enqueue(session, "reports.items_csv", tenant_id=live_tenant.id, job_id=str(job_id), colour="red")
        session.commit()

    def failed() -> Job | None:
        with sync_db.sync_session(live_tenant.schema_name) as session:
            job = session.get(Job, job_id)
            return job if job is not None and job.status == "failed" else None

    job = wait_until(failed)
    assert "BadTaskArguments" in job.error
    assert "colour" in job.error
    assert job.finished_at is not None


async def test_report_holds_only_its_own_tenants_items(
    live_app, settings, live_tenant, tenant_b, sync_db, relay, worker
):
    other_title = f"beta-secret-{uuid.uuid4().hex[:8]}"
    with sync_db.sync_session(tenant_b.schema_name) as session:
        session.add(Item(title=other_title, tags=[]))
        session.commit()
    async with owner_client(live_app, settings, sync_db, live_tenant) as client:
        own_title = f"alpha-own-{uuid.uuid4().hex[:8]}"
        assert (await client.post("/api/v1/items", json={"title": own_title})).status_code == 201
        job_id = (await client.post("/api/v1/reports", json={"kind": "items_csv"})).json()["id"]
        job = await finished_job(client, job_id)
        assert job["status"] == "succeeded", job
        titles = {r["title"] for r in csv.DictReader(io.StringIO((await client.get(job["result_url"])).text))}
    assert own_title in titles
    assert other_title not in titles
    with sync_db.sync_session(tenant_b.schema_name) as session:
        session.execute(delete(Item).where(Item.title == other_title))
        session.commit()


async def test_report_cells_that_start_a_formula_are_written_as_text(
    live_app, settings, sync_db, live_tenant, relay, worker
):
    formulas = ('=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1")
    async with owner_client(live_app, settings, sync_db, live_tenant) as client:
        for n, formula in enumerate(formulas):
            body = {"title": f"plain {n}", "description": formula, "tags": ["=cmd"]}
            assert (await client.post("/api/v1/items", json=body)).status_code == 201
        assert (await client.post("/api/v1/items", json={"title": "a = b, harmless"})).status_code == 201
        job_id = (await client.post("/api/v1/reports", json={"kind": "items_csv"})).json()["id"]
        job = await finished_job(client, job_id)
        assert job["status"] == "succeeded", job
        rows = list(csv.DictReader(io.StringIO((await client.get(job["result_url"])).text, newline="")))
    descriptions = {r["description"] for r in rows if r["title"].startswith("plain")}
    assert descriptions == {"'" + formula for formula in formulas}
    assert {r["tags"] for r in rows if r["title"].startswith("plain")} == {"'=cmd"}
    assert "a = b, harmless" in {r["title"] for r in rows}  # only the first character matters
