"""The tenant console's reports and jobs: request a report, follow its job, download the result.

Requesting a report is `POST /api/v1/reports` (reports:run, and a plan with reports): a job is created
with its task in one transaction and the browser goes to the job's page, `/jobs/{id}`, which shows its
progress and final state (`static/jobs.js` asks `/jobs/{id}/progress` until the job has finished; without
JavaScript the page is reloaded by hand). A finished report downloads as from the API: a redirect to a
signed link of the object storage, or the file itself when the platform has no bucket.
"""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Any

import anyio
from fastapi import Depends, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import ValidationError, field_validator

from billing.catalog import Feature
from billing.dependencies import FeatureNotInPlan, require_feature
from platform_core.access.permissions import Permission
from platform_core.console.forms import claim_submission, errors_by_field, new_nonce, release_submission
from platform_core.console.templating import render
from platform_core.console.tenant.lists import ListQuery, read_query
from platform_core.console.tenant.pages import TenantPage, permission_page, redirect, visible_nav
from platform_core.console.tenant.route import tenant_router
from platform_core.jobs import service as job_service
from platform_core.jobs.dependencies import get_current_job
from platform_core.jobs.models import Job, JobStatus
from platform_core.realtime import tickets as realtime_tickets
from platform_core.reports import repository as report_repository
from platform_core.reports.exceptions import ReportNotFound
from platform_core.reports.schemas import ReportCreate, ReportKind
from platform_core.uploads.storage import get_store

router = tenant_router()

JobsReadPage = Annotated[TenantPage, Depends(permission_page(Permission.JOBS_READ))]
ReportsRunPage = Annotated[TenantPage, Depends(permission_page(Permission.REPORTS_RUN))]

_reports_feature = require_feature(Feature.REPORTS)
REPORT_NAMES = {ReportKind.ITEMS_CSV.value: "Items (CSV)"}
STATUS_LABELS = {
    JobStatus.QUEUED.value: "Queued",
    JobStatus.RUNNING.value: "Running",
    JobStatus.SUCCEEDED.value: "Finished",
    JobStatus.FAILED.value: "Failed",
}
FINISHED = frozenset({JobStatus.SUCCEEDED.value, JobStatus.FAILED.value})
_REQUEST_SCOPE = "reports.request"
# How the job page follows a job: a look every POLL_MS at first, slower later, for up to POLL_MAX looks.
POLL_MS = 1000
POLL_MAX = 300


REPORT_TYPES = {f"report.{kind}": name for kind, name in REPORT_NAMES.items()}


class ReportListQuery(ListQuery):
    """The list of report jobs: by report (the API's `type`, a report's job type) and `status`."""

    type: str = f"report.{ReportKind.ITEMS_CSV.value}"
    status: JobStatus | None = None

    @field_validator("type")
    @classmethod
    def _a_report(cls, value: str) -> str:
        if value not in REPORT_TYPES:
            raise ValueError("Choose one of the reports.")
        return value


def job_name(job: Job | Any) -> str:
    """What a job is, for people: "Report: Items (CSV)"."""
    kind = str(job.type).removeprefix("report.")
    if str(job.type).startswith("report.") and kind in REPORT_NAMES:
        return f"Report: {REPORT_NAMES[kind]}"
    return str(job.type).replace("_", " ").replace(".", ": ").capitalize()


def download_path(job: Job | Any) -> str | None:
    """The console's link to a finished report, or None."""
    if str(job.type).startswith("report.") and job.status == JobStatus.SUCCEEDED and job.result_url:
        return f"/reports/{job.id}/download"
    return None


async def _plan_problem(page: TenantPage) -> str | None:
    """Why the workspace cannot run reports (its plan), or None when it can."""
    try:
        await _reports_feature(page.request)
    except FeatureNotInPlan as exc:
        return exc.message
    return None


@router.get("/reports")
async def list_reports(page: JobsReadPage) -> Response:
    """The workspace's reports (their jobs, newest first), and the form to request one."""
    return await _reports_page(page)


async def _reports_page(page: TenantPage, *, errors: dict[str, str] | None = None) -> Response:
    """The reports page; `errors`: the request form's, shown beside its fields (422)."""
    view = read_query(page.request, ReportListQuery)
    q = view.query
    jobs = await job_service.list_jobs(
        page.session,
        status=q.status.value if q.status else None,
        type_=q.type,
        paging=q.paging,
    )
    can_run = page.can(Permission.REPORTS_RUN)
    context = {
        "view": view,
        "jobs": jobs,
        "can_run": can_run,
        "plan_problem": await _plan_problem(page) if can_run else None,
        "kind_options": list(REPORT_NAMES.items()),
        "type_options": list(REPORT_TYPES.items()),
        "status_options": [("", "Any status"), *STATUS_LABELS.items()],
        "status_labels": STATUS_LABELS,
        "job_name": job_name,
        "download_path": download_path,
        "form_nonce": new_nonce(),
        "email": page.user.email,
        "request_errors": errors or {},
    }
    status = 422 if errors else view.status
    return render(page.request, "tenant/reports.html", context, status_code=status)


@router.post("/reports")
async def request_report(page: ReportsRunPage) -> Response:
    """Start building a report (once per form) and follow it on its job's page."""
    await _reports_feature(page.request)  # the API's gate: a plan with reports (403 page otherwise)
    form = await page.request.form()
    try:
        body = ReportCreate.model_validate(
            {"kind": form.get("kind"), "notify_email": page.user.email if form.get("notify") else None}
        )
    except ValidationError as exc:
        return await _reports_page(page, errors=errors_by_field(exc))
    if not await claim_submission(page.request, _REQUEST_SCOPE):
        return redirect("/reports", notice="That report was already requested.", settings=page.settings)
    params: dict[str, Any] = {"kind": body.kind.value}
    if body.notify_email:
        params["notify_email"] = str(body.notify_email)
    try:
        job = await job_service.start_job(
            page.session,
            page.tenant,
            type_=f"report.{body.kind.value}",
            task_name=f"reports.{body.kind.value}",
            params=params,
            user_id=page.user.user_id,
        )
    except BaseException:
        await release_submission(page.request, _REQUEST_SCOPE)
        raise
    return redirect(f"/jobs/{job.id}", notice="Report requested.", settings=page.settings)


@router.get("/jobs/{job_id}")
async def show_job(page: JobsReadPage, job_id: uuid.UUID) -> Response:
    """One job: what it is, its progress and its final state, and the report once it is built."""
    job = await get_current_job(job_id, page.session)
    context = {
        "job": job,
        "name": job_name(job),
        "status_labels": STATUS_LABELS,
        "finished": job.status in FINISHED,
        "download": download_path(job) if page.can(Permission.REPORTS_RUN) else None,
        "poll_ms": POLL_MS,
        "poll_max": POLL_MAX,
        # Its events go to the user who started it: their page follows it live, others' poll.
        "live": job.user_id is not None and job.user_id == page.user.user_id,
    }
    if job.type.startswith("report.") and any(
        link.href == "/reports" for link in visible_nav(page.principal)
    ):
        context["nav_current"] = "/reports"  # a report's job belongs to the Reports page
    return render(page.request, "tenant/job.html", context)


@router.post("/jobs/{job_id}/live")
async def job_live_ticket(page: JobsReadPage, job_id: uuid.UUID) -> Response:
    """A realtime ticket for the job page's script, which then follows the job live (JSON)."""
    job = await get_current_job(job_id, page.session)
    hub = page.request.app.state.realtime_hub
    ttl = hub.settings.ticket_ttl_seconds
    claims = realtime_tickets.TicketClaims.of(page.user, api_key_hash=None)
    ticket = await realtime_tickets.issue(hub.redis, claims, ttl_seconds=ttl)
    return JSONResponse(
        {"ticket": ticket, "expires_in": ttl, "channel": "jobs", "job_id": str(job.id)},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/jobs/{job_id}/progress")
async def job_progress(page: JobsReadPage, job_id: uuid.UUID) -> Response:
    """Where a job is, for the job page's script (JSON)."""
    job = await get_current_job(job_id, page.session)
    return JSONResponse(
        {
            "status": job.status,
            "label": STATUS_LABELS.get(job.status, job.status),
            "progress": job.progress,
            "finished": job.status in FINISHED,
        }
    )


@router.get("/reports/{report_id}/download")
async def download_report(page: ReportsRunPage, report_id: uuid.UUID) -> Response:
    """Download a built report: a redirect to a signed link of the storage, or the file itself."""
    report = await report_repository.get(page.session, report_id=report_id)
    if report is None:
        raise ReportNotFound
    if report.key is not None:
        url = await anyio.to_thread.run_sync(
            functools.partial(get_store().presign_get, report.key, filename=report.filename)
        )
        return RedirectResponse(url, status_code=303)
    return Response(
        content=report.content,
        media_type=report.content_type,
        headers={"Content-Disposition": f'attachment; filename="{report.filename}"'},
    )
