"""Jobs and reports API on the transactional harness: listing, reading, starting, isolation."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from platform_core.jobs.models import Job
from platform_core.kernel.outbox import OutboxMessage
from platform_core.reports.models import Report


async def _jobs(db, tenant, *specs):
    jobs = [Job(id=uuid.uuid4(), type=t, status=s, progress=p, params={}) for t, s, p in specs]
    async with db.session(tenant.schema_name) as session:
        session.add_all(jobs)
        await session.commit()
    return jobs


async def test_list_and_get_jobs(client_a, db, tenant_a):
    queued, done = await _jobs(db, tenant_a, ("report.items_csv", "queued", 0), ("export", "succeeded", 100))
    body = (await client_a.get("/api/v1/jobs")).json()
    assert body["total"] == 2
    assert {j["id"] for j in body["items"]} == {str(queued.id), str(done.id)}
    only_done = (await client_a.get("/api/v1/jobs", params={"status": "succeeded"})).json()
    assert [j["id"] for j in only_done["items"]] == [str(done.id)]
    by_type = (await client_a.get("/api/v1/jobs", params={"type": "export"})).json()
    assert [j["type"] for j in by_type["items"]] == ["export"]
    one = (await client_a.get(f"/api/v1/jobs/{queued.id}")).json()
    assert (one["status"], one["progress"], one["result_url"], one["error"]) == ("queued", 0, None, None)


async def test_bad_job_queries_are_422(client_a):
    for params in ({"status": "sleeping"}, {"page_size": 101}, {"page": 0}):
        response = await client_a.get("/api/v1/jobs", params=params)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_error"
    assert (await client_a.get("/api/v1/jobs/not-a-uuid")).status_code == 422


async def test_a_page_past_the_end_keeps_the_total(client_a, db, tenant_a):
    await _jobs(db, tenant_a, *[("export", "succeeded", 100)] * 3)
    body = (await client_a.get("/api/v1/jobs", params={"page": 3, "page_size": 2})).json()
    assert (body["items"], body["total"], body["page"], body["page_size"]) == ([], 3, 3, 2)
    assert (await client_a.get("/api/v1/jobs", params={"page": 2, "page_size": 2})).json()["total"] == 3


async def test_job_of_another_tenant_is_404(client_a, client_b, db, tenant_a):
    [job] = await _jobs(db, tenant_a, ("export", "running", 40))
    response = await client_b.get(f"/api/v1/jobs/{job.id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_not_found"
    assert (await client_b.get("/api/v1/jobs")).json()["total"] == 0
    assert (await client_a.get(f"/api/v1/jobs/{job.id}")).status_code == 200


async def test_unknown_job_is_404(client_a):
    assert (await client_a.get(f"/api/v1/jobs/{uuid.uuid4()}")).status_code == 404


async def test_create_report_writes_job_and_outbox_row_together(client_a, db, tenant_a):
    response = await client_a.post(
        "/api/v1/reports", json={"kind": "items_csv", "notify_email": "me@alpha.example.com"}
    )
    assert response.status_code == 202
    job = response.json()
    assert (job["type"], job["status"], job["progress"]) == ("report.items_csv", "queued", 0)
    async with db.session(None) as session:
        rows = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_a.id))
        ).all()
    assert [(r.task_name, r.kwargs) for r in rows] == [
        (
            "reports.items_csv",
            {
                "job_id": job["id"],
                "kind": "items_csv",
                "notify_email": "me@alpha.example.com",
                "tenant_id": str(tenant_a.id),
            },
        )
    ]


async def test_create_report_bad_input_changes_nothing(client_a, db, tenant_a):
    for body in (
        {"kind": "pdf"},
        {"kind": "items_csv", "notify_email": "not-an-email"},
        {"kind": "items_csv", "x": 1},
    ):
        response = await client_a.post("/api/v1/reports", json=body)
        assert response.status_code == 422
    assert (await client_a.get("/api/v1/jobs")).json()["total"] == 0
    async with db.session(None) as session:
        written = select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_a.id)
        assert (await session.scalars(written)).all() == []


async def test_report_download_and_isolation(client_a, client_b, db, tenant_a):
    report_id = uuid.uuid4()
    async with db.session(tenant_a.schema_name) as session:
        session.add(
            Report(
                id=report_id,
                kind="items_csv",
                filename="items.csv",
                content_type="text/csv",
                size_bytes=4,
                content=b"a,b\n",
            )
        )
        await session.commit()
    ok = await client_a.get(f"/api/v1/reports/{report_id}/download")
    assert ok.status_code == 200
    assert ok.content == b"a,b\n"
    assert 'filename="items.csv"' in ok.headers["content-disposition"]
    other = await client_b.get(f"/api/v1/reports/{report_id}/download")
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "report_not_found"
