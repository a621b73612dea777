"""localstripe with the subscription behaviour Stripe has and localstripe 1.15 lacks.

localstripe keeps real state and signs its webhooks like Stripe, but its subscriptions never trial, it
never sends `customer.subscription.updated` or `invoice.paid`, ending a trial bills nothing, and the
period never starts again. The platform's subscription life (trial, active, past_due, paid again,
cancel at period end, canceled) depends on exactly those, so this module adds them, through the same
API calls that do it in Stripe:

- `trial_period_days` or `trial_end` at creation: status `trialing`, the period is the trial, no invoice.
- `POST /v1/subscriptions/{id}` with `trial_end=now`: the trial ends, an invoice is billed at once
  (paid: `active`; declined: `past_due` and `invoice.payment_failed`).
- `billing_cycle_anchor=now` (with `proration_behavior=none`): a new period starts and is invoiced at
  once, as when a renewal comes due.
- Paying an invoice (`POST /v1/invoices/{id}/pay`) with a declined card answers 402 `card_declined`,
  sends `invoice.payment_failed` and makes the subscription `past_due`; paid, it makes it `active`.
- Updating a subscription's metadata merges it (an empty value removes a key); localstripe drops it.
- Subscription items may name a `price` (the current API) where localstripe expects a `plan`.
- An item updated by its id keeps its id (localstripe replaces it with a new item when the quantity
  or plan changes).
- Subscription items carry `current_period_start`/`current_period_end`, as in the current API.
- Every change of a subscription (its status, trial, period, cancellation, plan or quantity) sends
  `customer.subscription.updated` with `previous_attributes`; a paid invoice sends `invoice.paid`
  besides `invoice.payment_succeeded`.
- A POST with an `Idempotency-Key` seen in the last 24 hours (for the same API key) is not run again:
  the first answer is replayed (with `Idempotent-Replayed: true`), and the same key with other
  parameters is 400 `idempotency_error`. localstripe runs every request.

Run it as localstripe is run (`python -m platform_core.devstack.localstripe_plus --port N --from-scratch`).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from dateutil.relativedelta import relativedelta
from localstripe import resources
from localstripe.errors import UserError
from localstripe.resources import Event, Invoice, Subscription, SubscriptionItem

from platform_core.devstack._common import LOCALHOST

_schedule = resources.schedule_webhook
_held: list[list[Any]] = []  # events held back while a subscription is being built
_updating: list[Any] = []  # subscriptions inside an update (which sends one `updated` at its end)
IDEMPOTENCY_SECONDS = 24 * 3600
# (API key, idempotency key) -> (expiry, method and path and body of the first request, its answer)
_answers: dict[tuple[str, str], tuple[float, tuple[str, str, bytes], int, bytes]] = {}
WATCHED = (
    "status",
    "trial_end",
    "cancel_at_period_end",
    "current_period_start",
    "current_period_end",
    "quantity",
    "plan",  # a Plan object: compared by identity (localstripe keeps one per id), sent exported
)


def _send(event: Any) -> None:
    if _held:
        _held[-1].append(event)
    else:
        _schedule(event)


@contextmanager
def _holding() -> Iterator[list[Any]]:
    """Hold back the events scheduled inside the block; the caller refreshes and sends them."""
    _held.append([])
    try:
        yield _held[-1]
    finally:
        _held.pop()


def _snapshot(sub: Any) -> dict[str, Any]:
    return {name: getattr(sub, name, None) for name in WATCHED}


def _send_updated(sub: Any, before: dict[str, Any]) -> None:
    """`customer.subscription.updated` with what changed, as Stripe sends it."""
    changed = {k: v for k, v in before.items() if getattr(sub, k, None) != v}
    if not changed:
        return
    event = Event("customer.subscription.updated", sub)
    event.data["previous_attributes"] = {
        k: v._export() if k == "plan" and v is not None else v for k, v in changed.items()
    }
    _send(event)


def _period(item: Any) -> dict[str, int]:
    """The item's current period: the trial while it lasts, else from the last billing anchor."""
    sub = Subscription._api_retrieve(item._subscription) if item._subscription else None
    now = int(time.time())
    if sub is not None and sub.status == "trialing" and sub.trial_end and sub.trial_end > now:
        return {"start": sub.trial_start or sub.start_date, "end": sub.trial_end}
    start = getattr(sub, "_anchor", None) or (sub.start_date if sub is not None else now)
    steps: dict[str, timedelta | relativedelta] = {
        "day": timedelta(days=1),
        "week": timedelta(days=7),
        "month": relativedelta(months=1),
        "year": relativedelta(years=1),
    }
    end = datetime.fromtimestamp(start) + steps.get(item.plan.interval, relativedelta(months=1))
    return {"start": start, "end": int(end.timestamp())}


def _prices_as_plans(items: Any) -> Any:
    """Items naming a `price` (the current API) as localstripe's `plan`s (the same ids here)."""
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and "price" in item and "plan" not in item:
                item["plan"] = item.pop("price")
    return items


def _init(original: Callable[..., None]) -> Callable[..., None]:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        _prices_as_plans(kwargs.get("items"))
        with _holding() as held:
            original(self, *args, **kwargs)
            days = self.trial_period_days
            if days is None and self.trial_from_plan:
                days = self.plan.trial_period_days
            if self.trial_end is not None or days:
                now = int(time.time())
                self.trial_start = now
                self.trial_end = self.trial_end or now + int(days) * 86400
                self.status = "trialing"
        for event in held:
            if event.type == "customer.subscription.created":
                event.data = {"object": self._export()}
            _send(event)

    return init


def _update(original: Callable[..., None]) -> Callable[..., None]:
    def update(self: Any, **data: Any) -> None:
        _prices_as_plans(data.get("items"))
        metadata = data.pop("metadata", None)
        if isinstance(metadata, dict):  # localstripe drops it; Stripe merges, and "" removes a key
            merged = {**(self.metadata or {}), **metadata}
            self.metadata = {k: v for k, v in merged.items() if v != ""}
        anchor = data.pop("billing_cycle_anchor", None)
        data.pop("proration_behavior", None)
        data.pop("payment_behavior", None)
        was_trialing = self.status == "trialing"
        before = _snapshot(self)
        items = data.get("items")
        named = (
            items[0].get("id") if isinstance(items, list) and items and isinstance(items[0], dict) else None
        )
        if named not in [item.id for item in self.items._list]:
            named = None  # a new item, or one that is not this subscription's: localstripe's rules
        _updating.append(self)
        try:
            original(self, **data)
            if named:
                _keep_item_id(self, named)
            now = int(time.time())
            if was_trialing and self.trial_end is not None and int(self.trial_end) <= now:
                self._anchor = now  # the trial is over: the first paid period starts now
                self._create_invoice()
                if self.status == "trialing":  # an invoice of zero, or a payment still pending
                    self.status = "active"
            elif anchor == "now":
                self._anchor = now
                self._create_invoice()
        finally:
            _updating.pop()
        _send_updated(self, before)

    return update


def _keep_item_id(sub: Any, item_id: str) -> None:
    """Give the subscription's item the id the update named, as Stripe updates an item in place."""
    item = sub.items._list[0] if sub.items._list else None
    if item is None or item.id == item_id:
        return
    resources.store.pop(f"{SubscriptionItem.object}:{item.id}", None)
    item.id = item_id
    resources.store[f"{SubscriptionItem.object}:{item_id}"] = item


def _payment_outcome(original: Callable[..., None], paid: bool) -> Callable[..., None]:
    def outcome(self: Any) -> None:
        sub = Subscription._api_retrieve(self.subscription) if self.subscription else None
        before = _snapshot(sub) if sub is not None else {}
        original(self)
        if paid:
            _send(Event("invoice.paid", self))
        if sub is not None and sub.status != "incomplete" and sub not in _updating:
            _send_updated(sub, before)

    return outcome


def _pay(original: Callable[..., Any]) -> classmethod[Any, [str], Any]:
    def pay(cls: Any, id: str) -> Any:  # `id`: the name the server passes it by
        invoice = original(id)
        charge = invoice.charge
        if invoice.status != "open" or charge is None or charge.status != "failed":
            return invoice
        sub = Subscription._api_retrieve(invoice.subscription) if invoice.subscription else None
        if sub is None or sub.status == "incomplete":
            return invoice  # a first payment: localstripe's own rules apply
        invoice._on_payment_failure_now()  # invoice.payment_failed, and past_due
        if sub in _updating:
            return invoice  # billed by a subscription update: the update itself succeeds
        raise UserError(402, "Your card was declined.", {"code": "card_declined"})

    return classmethod(pay)


@web.middleware
async def idempotency(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    """Replay the first answer to a POST's `Idempotency-Key`, as Stripe does for 24 hours."""
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), key)
    fingerprint = (request.method, request.path, await request.read())
    now = time.time()
    saved = _answers.get(scope)
    if saved is not None and saved[0] > now:
        if saved[1] != fingerprint:
            message = (
                "Keys for idempotent requests can only be used with the same parameters they were "
                f"first used with. Try using a key other than '{key}' if you meant to execute a "
                "different request."
            )
            error = {"error": {"type": "idempotency_error", "message": message}}
            return web.json_response(error, status=400)
        headers = {"Idempotent-Replayed": "true", "Idempotency-Key": key}
        return web.Response(status=saved[2], body=saved[3], content_type="application/json", headers=headers)
    response = await handler(request)
    if response.status < 500 and isinstance(response, web.Response) and isinstance(response.body, bytes):
        _answers[scope] = (now + IDEMPOTENCY_SECONDS, fingerprint, response.status, response.body)
    return response


def install() -> None:
    """Patch localstripe's classes (idempotent)."""
    if getattr(resources, "_platform_plus", False):
        return
    resources.schedule_webhook = _send
    Subscription.__init__ = _init(Subscription.__init__)
    Subscription._update = _update(Subscription._update)
    SubscriptionItem._current_period = _period
    # The current API keeps the period on the items.
    SubscriptionItem.current_period_start = property(lambda self: self._current_period()["start"])
    SubscriptionItem.current_period_end = property(lambda self: self._current_period()["end"])
    Invoice._on_payment_success = _payment_outcome(Invoice._on_payment_success, True)
    for name in ("_on_payment_failure_now", "_on_payment_failure_later"):
        setattr(Invoice, name, _payment_outcome(getattr(Invoice, name), False))
    original_pay = Invoice._api_pay_invoice
    Invoice._api_pay_invoice = _pay(original_pay)
    # The server routes extra endpoints to the methods bound when localstripe was imported.
    resources.extra_apis[:] = [
        (method, url, Invoice._api_pay_invoice if func == original_pay else func)
        for method, url, func in resources.extra_apis
    ]
    resources._platform_plus = True


def main() -> None:
    """Start localstripe with the additions (same command-line options), listening on 127.0.0.1 only.

    localstripe's own start() binds every interface (`::`), which would publish the development
    Stripe to the network; so the server is started here instead.
    """
    install()
    from aiohttp import web
    from localstripe import server  # after install(): the server binds routes on import

    server.app.middlewares.insert(0, idempotency)  # outermost: errors are answers to replay too
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--from-scratch", action="store_true")
    args = parser.parse_args()
    if not args.from_scratch:
        server.store.try_load_from_disk()
    access_log = logging.getLogger("aiohttp.access")
    access_log.setLevel(logging.DEBUG)
    access_log.addHandler(logging.StreamHandler())
    web.run_app(server.app, host=LOCALHOST, port=args.port, access_log=access_log, print=None)


if __name__ == "__main__":
    main()
