"""The operator console's platform pages: fleet migrations, waiting Stripe events (and their replay),
and the log of operator actions."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request, Response

from billing.service import WAITING_STATUSES
from platform_core.console.forms import read_form
from platform_core.console.operator.pages import SignedInOperatorPage, page_number
from platform_core.console.operator.route import operator_router
from platform_core.console.templating import render
from platform_core.console.tenant.pages import redirect
from platform_core.kernel.errors import Unprocessable
from platform_core.kernel.paging import DEFAULT_PAGE_SIZE, PageParams
from platform_core.operators import service as operator_service
from platform_core.operators.schemas import ReplayRequest

router = operator_router()


class InvalidReplay(Unprocessable):
    """The replay form names no valid event."""

    code = "validation_error"


@router.get("/fleet")
async def fleet(page: SignedInOperatorPage) -> Response:
    """The tenant migration head, and the tenants not at it with their last migration error."""
    status = await operator_service.fleet_status(page.session, page.settings)
    return render(page.request, "operator/fleet.html", {"fleet": status})


@router.get("/stripe-events")
async def stripe_events(
    page: SignedInOperatorPage, status: str | None = None, p: str | None = None
) -> Response:
    """Stripe events not processed (parked after their attempts, or failed and retried), oldest first."""
    chosen = status if status in WAITING_STATUSES else None
    paging = PageParams(page=page_number(p), page_size=DEFAULT_PAGE_SIZE)
    events = await operator_service.list_stripe_events(page.session, status=chosen, paging=paging)

    def url_for_page(number: int) -> str:
        return "/stripe-events?" + urlencode({**({"status": chosen} if chosen else {}), "p": number})

    slugs = await operator_service.tenant_slugs(
        page.session, list({e.tenant_id for e in events.items if e.tenant_id is not None})
    )
    context = {
        "events": events,
        "slugs": slugs,
        "values": {"status": chosen or ""},
        "statuses": WAITING_STATUSES,
        "url_for_page": url_for_page,
    }
    return render(page.request, "operator/stripe_events.html", context)


@router.post("/stripe-events/replay")
async def stripe_events_replay(page: SignedInOperatorPage, request: Request) -> Response:
    """Queue one waiting event (`event_ids`), or every parked one, for processing again."""
    form = await read_form(request, ReplayRequest, lists=("event_ids",))
    if form.model is None:  # only a hand-made request: the page's buttons send valid forms
        raise InvalidReplay(next(iter(form.errors.values())), details={"errors": form.errors})
    queued = await operator_service.replay_stripe_events(
        page.session,
        operator_service.actor(page.signed_in, page.scope.ip),
        include_failed=form.model.include_failed,
        event_ids=form.model.event_ids,
    )
    notice = (
        f"Queued {len(queued)} event(s) for processing again." if queued else "No waiting event to replay."
    )
    return redirect("/stripe-events", notice=notice, settings=page.settings)


@router.get("/activity")
async def activity(page: SignedInOperatorPage, p: str | None = None) -> Response:
    """What operators did (console, API and platformctl), newest first."""
    paging = PageParams(page=page_number(p), page_size=50)
    actions = await operator_service.list_actions(page.session, paging=paging)

    def url_for_page(number: int) -> str:
        return "/activity?" + urlencode({"p": number})

    return render(page.request, "operator/activity.html", {"actions": actions, "url_for_page": url_for_page})
