"""The console's data pages in a real browser against the whole platform: items (create, search, edit,
delete), a file uploaded from the browser straight to the S3-compatible server with its progress shown,
then listed and downloaded, and a report requested, built by the real worker, followed on its job page,
downloaded, and announced by email with a link to that page."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from platform_core.items.models import Item
from platform_core.jobs.models import Job
from platform_core.kernel.db.base import utcnow
from platform_core.reports.models import Report
from platform_core.uploads.models import Upload
from tests.browser.test_sign_in import sign_in
from tests.conftest import subscribed
from tests.support.browser import ConsoleStack, link_in, owner_email


def test_create_search_edit_and_delete_an_item(stack: ConsoleStack, page: Page):
    tenant = stack.new_tenant(name="Item Works")
    sign_in(page, stack, tenant.slug, owner_email(tenant.slug))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Items").click()
    expect(page.get_by_role("heading", name="Items")).to_be_visible()
    expect(page.get_by_text("No items yet.")).to_be_visible()

    page.get_by_role("link", name="New item").click()
    page.get_by_role("button", name="Create item").click()  # nothing typed
    expect(page.locator("#e-title")).to_contain_text("at least 1 character")
    page.get_by_label("Title").fill("Launch checklist")
    page.get_by_label("Description").fill("Fuel, weather, crew")
    page.get_by_label("Status").select_option("in_progress")
    page.get_by_label("Tags").fill("launch, Crew")
    page.get_by_role("button", name="Create item").click()
    expect(page.get_by_role("status")).to_contain_text("Item created.")
    expect(page.get_by_role("heading", name="Launch checklist")).to_be_visible()

    page.get_by_role("link", name="← Items").click()
    page.get_by_role("link", name="New item").click()
    page.get_by_label("Title").fill("Coffee order")
    page.get_by_role("button", name="Create item").click()
    expect(page.get_by_role("status")).to_contain_text("Item created.")

    page.goto(stack.url(tenant.slug, "/items"))
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("Search").fill("checklist")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/items\?q=checklist"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Launch checklist")
    page.get_by_role("link", name="Clear filters").click()
    page.get_by_role("link", name="crew").click()  # a tag filters the list
    expect(page).to_have_url(re.compile(r"/items\?tag=crew"))
    expect(rows).to_have_count(1)

    rows.first.get_by_role("link", name="Launch checklist").click()
    page.get_by_label("Title").fill("Launch checklist v2")
    page.get_by_label("Status").select_option("done")
    page.get_by_role("button", name="Save item").click()
    expect(page.get_by_role("status")).to_contain_text("Item saved.")
    expect(page.get_by_role("heading", name="Launch checklist v2")).to_be_visible()

    page.once("dialog", lambda dialog: dialog.dismiss())  # asked first: no
    page.get_by_role("button", name="Delete item").click()
    expect(page.get_by_role("heading", name="Launch checklist v2")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete item").click()
    expect(page.get_by_role("status")).to_contain_text("deleted.")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Coffee order")

    with stack.sync_db.sync_session(tenant.schema_name) as session:
        items = {i.title: (i.status, i.tags, i.deleted_at is not None) for i in session.scalars(select(Item))}
    assert items == {
        "Launch checklist v2": ("done", ["launch", "crew"], True),
        "Coffee order": ("open", [], False),
    }


def test_upload_a_file_to_the_storage_with_progress_and_download_it(
    stack: ConsoleStack, page: Page, tmp_path: Path
):
    tenant = stack.new_tenant(name="File Cabinet")
    sign_in(page, stack, tenant.slug, owner_email(tenant.slug))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Files").click()
    expect(page.get_by_role("heading", name="Files")).to_be_visible()

    states: list[str] = []

    def record(text: str) -> None:
        states.append(text)

    page.expose_function("recordUploadState", record)
    page.evaluate(
        """() => {
        const state = document.querySelector("[data-upload-state]");
        new MutationObserver(() => window.recordUploadState(state.textContent)).observe(
            state, { childList: true, characterData: true, subtree: true });
    }"""
    )
    content = b"".join(f"line {n:07d} of the flight plan\n".encode() for n in range(120_000))  # ~3.7 MB
    page.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "flight plan.txt", "mimeType": "text/plain", "buffer": content}]
    )
    with page.expect_request(lambda r: r.url.startswith(stack.s3_endpoint) and r.method == "POST") as sent:
        page.get_by_role("button", name="Upload").click()
    assert sent.value.url.startswith(stack.s3_endpoint)  # straight to the storage, not through the platform
    expect(page.get_by_role("status")).to_contain_text("“flight plan.txt” uploaded.")
    assert any(re.fullmatch(r"Uploading flight plan\.txt: \d+%", s) for s in states), states
    assert "Uploading flight plan.txt: 100%" in states

    row = page.locator("table tbody tr")
    expect(row).to_have_count(1)
    expect(row.first).to_contain_text("flight plan.txt")
    expect(row.first).to_contain_text("Stored")
    with page.expect_download() as download:
        row.first.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "flight plan.txt"
    saved = tmp_path / "downloaded.txt"
    download.value.save_as(saved)
    assert saved.read_bytes() == content

    with stack.sync_db.sync_session(tenant.schema_name) as session:
        (upload,) = session.scalars(select(Upload)).all()
    assert (upload.status, upload.size_bytes, upload.content_type) == ("stored", len(content), "text/plain")

    page.once("dialog", lambda dialog: dialog.accept())
    row.first.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("“flight plan.txt” deleted.")
    expect(page.get_by_text("No files yet.")).to_be_visible()


def test_request_a_report_watch_it_finish_and_download_it(stack: ConsoleStack, page: Page, tmp_path: Path):
    tenant = stack.new_tenant(name="Report Co")
    subscribed(stack.sync_db, tenant, plan="pro", status="active")  # a plan with reports
    email = owner_email(tenant.slug)
    with stack.sync_db.sync_session(tenant.schema_name) as session, session.begin():
        session.add_all([Item(title="Alpha widget", tags=[]), Item(title="Beta widget", tags=["b"])])
    sign_in(page, stack, tenant.slug, email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    page.get_by_label(f"Email me at {email} when it is ready").check()
    page.get_by_role("button", name="Request report").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    job_path = page.url.split(str(stack.api.port), 1)[1]
    expect(page.get_by_role("heading", name="Report: Items (CSV)")).to_be_visible()
    # The page follows the job by itself until the worker has built the report.
    expect(page.locator("[data-job-status]")).to_have_text("Finished", timeout=60_000)
    expect(page.locator("[data-job-percent]")).to_have_text("100%")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the report").click()
    saved = tmp_path / "report.csv"
    download.value.save_as(saved)
    text = saved.read_text()
    assert text.startswith("id,title,status")
    assert "Alpha widget" in text
    assert "Beta widget" in text

    link = link_in(stack.mail_to(email, "is ready"), job_path)
    assert link == stack.url(tenant.slug, job_path)
    page.goto(link)
    expect(page.get_by_role("link", name="Download the report")).to_be_visible()
    page.get_by_role("link", name="← Reports").click()
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.locator("table tbody tr").first).to_contain_text("Finished")


def test_a_jobs_page_shows_its_progress_as_it_goes(stack: ConsoleStack, page: Page):
    tenant = stack.new_tenant(name="Slow Jobs")
    job_id = uuid.uuid4()
    with stack.sync_db.sync_session(tenant.schema_name) as session, session.begin():
        # A job no worker runs: the test moves it along, as a worker's tracker would.
        session.add(Job(id=job_id, type="report.items_csv", status="queued", progress=0, params={}))

    def move(**fields: object) -> None:
        with stack.sync_db.sync_session(tenant.schema_name) as session, session.begin():
            session.execute(update(Job).where(Job.id == job_id).values(**fields))

    sign_in(page, stack, tenant.slug, owner_email(tenant.slug))
    page.goto(stack.url(tenant.slug, f"/jobs/{job_id}"))
    status, percent = page.locator("[data-job-status]"), page.locator("[data-job-percent]")
    expect(status).to_have_text("Queued")
    expect(page.get_by_text("This page updates by itself")).to_be_visible()
    move(status="running", progress=40, started_at=utcnow())
    expect(status).to_have_text("Running")
    expect(percent).to_have_text("40%")
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
    move(
        status="succeeded",
        progress=100,
        finished_at=utcnow(),
        result_url=f"/api/v1/reports/{job_id}/download",
    )
    expect(
        page.get_by_role("link", name="Download the report")
    ).to_be_visible()  # the page showed itself again
    expect(status).to_have_text("Finished")
    expect(page.get_by_text("This page updates by itself")).to_have_count(0)
