"""The job page follows its job live over the realtime WebSocket (its user's own job)."""

from __future__ import annotations

import uuid

import redis
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from platform_core.access.models import User
from platform_core.jobs.models import Job
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.realtime import publish_sync
from platform_core.reports.models import Report
from tests.browser.test_sign_in import sign_in
from tests.support.browser import ConsoleStack, owner_email


def test_a_jobs_page_shows_the_workers_progress_live(stack: ConsoleStack, page: Page):
    tenant = stack.new_tenant(name="Live Jobs")
    email = owner_email(tenant.slug)
    job_id = uuid.uuid4()
    with stack.sync_db.sync_session(tenant.schema_name) as session, session.begin():
        owner_id = session.scalars(select(User.id).where(User.email == email)).one()
        # A job no worker runs: the test publishes what a worker's tracker would.
        session.add(
            Job(
                id=job_id, type="report.items_csv", status="running", progress=10, params={}, user_id=owner_id
            )
        )
    bus = redis.Redis.from_url(stack.settings.redis_url)

    def tell(event: str, **data: object) -> None:
        publish_sync(bus, tenant.id, "jobs", event, {"id": str(job_id), **data}, user_id=owner_id)

    sign_in(page, stack, tenant.slug, email)
    with page.expect_websocket(lambda ws: "/api/v1/realtime" in ws.url):
        page.goto(stack.url(tenant.slug, f"/jobs/{job_id}"))
    panel = page.locator("[data-job-progress]")
    expect(panel).to_have_attribute("data-job-following", "live")
    expect(page.locator("[data-job-percent]")).to_have_text("10%")

    tell("job.progress", status="running", progress=40)
    # Only the socket knows 40: the job's row still says 10.
    expect(page.locator("[data-job-percent]")).to_have_text("40%")
    expect(page.locator("[data-job-bar]")).to_have_attribute("value", "40")

    with stack.sync_db.sync_session(tenant.schema_name) as session, session.begin():
        session.add(
            Report(
                id=job_id,
                kind="items_csv",
                filename="items.csv",
                content_type="text/csv",
                size_bytes=4,
                content=b"a,b\n",
            )
        )
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status="succeeded",
                progress=100,
                finished_at=utcnow(),
                result_url=f"/api/v1/reports/{job_id}/download",
            )
        )
    tell("job.succeeded", status="succeeded", progress=100)
    expect(page.get_by_role("link", name="Download the report")).to_be_visible()  # shown again, finished
    expect(page.locator("[data-job-status]")).to_have_text("Finished")
    bus.close()
