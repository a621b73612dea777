"""The Stripe stand-in's pages for a person: hosted Checkout and the customer portal, development only.

A Checkout Session's `url` shows what is bought with Pay and Cancel: Pay does what Stripe's page does
(card, subscription, `checkout.session.completed`) and redirects to the session's `success_url`
(`{CHECKOUT_SESSION_ID}` replaced by its id), Cancel redirects to its `cancel_url`. A portal session's
`url` lists the customer's subscriptions with a button per other price to change the plan and buttons
to cancel, each a change in localstripe, whose webhooks tell the platform; and a link back to the
session's `return_url`. Plain forms that act only on POST; the stand-in listens on loopback only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from platform_core.devstack._html import day, money, page

if TYPE_CHECKING:
    from platform_core.devstack.stripe_standin import StandIn

BANNER = "Stripe stand-in for development: no real payment is made."
SPENT = {
    "complete": "This checkout session is already paid.",
    "expired": "This checkout session has expired.",
}
DONE = {
    "plan": "Your plan was changed.",
    "now": "Your subscription was canceled.",
    "period_end": "Your subscription will end with the current period.",
    "renew": "Your subscription will renew.",
}
LIVE = ("trialing", "active", "past_due", "unpaid", "incomplete")

CHECKOUT = """{% extends "layout.html" %}{% block body %}
<div class="card">
  <p class="muted">{{ customer }}</p>
  <h1>Subscribe to {{ product }}</h1>
  <p class="amount">{{ amount }} <span class="muted">per {{ interval }}</span></p>
  {% if quantity > 1 %}<p>{{ quantity }} seats at {{ unit }} each</p>{% endif %}
  {% if trial_days %}
  <p>{{ trial_days }} days free, then {{ amount }} per {{ interval }}. Due today: {{ zero }}.</p>
  {% endif %}
  {% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
  <form method="post" action="/_standin/checkout/{{ id }}/pay">
    <label for="card">Card number (4000 0000 0000 0341 is accepted, then every charge is declined)</label>
    <input id="card" name="card" value="{{ card }}" inputmode="numeric" autocomplete="off">
    <div class="actions">
      <button class="primary" type="submit">Pay</button>
      <button type="submit" formaction="/_standin/checkout/{{ id }}/cancel">Cancel</button>
    </div>
  </form>
</div>
{% endblock %}"""

MESSAGE = """{% extends "layout.html" %}{% block body %}
<div class="card">
  <h1>{{ title }}</h1>
  <p>{{ message }}</p>
  {% if link %}<p><a href="{{ link }}">{{ link_text }}</a></p>{% endif %}
</div>
{% endblock %}"""

PORTAL = """{% extends "layout.html" %}{% block body %}
{% if return_url %}<p><a href="{{ return_url }}">← Return to {{ business }}</a></p>{% endif %}
<div class="card">
  <h1>Billing</h1>
  <p class="muted">{{ customer }}</p>
  {% if done %}<p role="status">{{ done }}</p>{% endif %}
  {% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
</div>
{% for sub in subscriptions %}
<div class="card">
  <h2>{{ sub.label }}</h2>
  <p>Status: <strong>{{ sub.status }}</strong>
  {%- if sub.trial_end %}, trial until {{ sub.trial_end }}{% endif %}.
  {% if sub.cancel_at_period_end %}Ends on {{ sub.period_end }}.
  {%- else %}Renews on {{ sub.period_end }}.{% endif %}</p>
  <div class="actions">
    {% for other in sub.others %}
    <form method="post" action="{{ sub.action }}/price">
      <input type="hidden" name="price" value="{{ other.id }}">
      <button type="submit">Switch to {{ other.label }}</button>
    </form>
    {% endfor %}
  </div>
  <div class="actions">
    {% if sub.cancel_at_period_end %}
    <form method="post" action="{{ sub.action }}/cancel"><input type="hidden" name="when" value="renew">
      <button type="submit">Renew subscription</button></form>
    {% else %}
    <form method="post" action="{{ sub.action }}/cancel"><input type="hidden" name="when" value="period_end">
      <button type="submit" class="danger">Cancel at period end</button></form>
    {% endif %}
    <form method="post" action="{{ sub.action }}/cancel"><input type="hidden" name="when" value="now">
      <button type="submit" class="danger">Cancel now</button></form>
  </div>
</div>
{% else %}
<div class="card"><p>No current subscription.</p></div>
{% endfor %}
{% endblock %}"""


def routes() -> list[Route]:
    """The pages' routes (the stand-in is on `request.app.state.standin`)."""
    portal = "/_standin/portal/{portal_id}"
    subscription = portal + "/subscriptions/{subscription_id}"
    return [
        Route("/_standin/checkout/{session_id}", checkout_page, methods=["GET"]),
        Route("/_standin/checkout/{session_id}/pay", pay, methods=["POST"]),
        Route("/_standin/checkout/{session_id}/cancel", cancel_checkout, methods=["POST"]),
        Route(portal, portal_page, methods=["GET"]),
        Route(subscription + "/price", change_plan, methods=["POST"]),
        Route(subscription + "/cancel", cancel_subscription, methods=["POST"]),
    ]


def _standin(request: Request) -> StandIn:
    return request.app.state.standin


def _message(title: str, message: str, status: int, link: str | None = None, link_text: str = "") -> Response:
    return page(
        MESSAGE, title=title, banner=BANNER, status=status, message=message, link=link, link_text=link_text
    )


def _refusal(exc: httpx.HTTPStatusError) -> str:
    """localstripe's message for a refused call."""
    try:
        return str(exc.response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"Stripe answered {exc.response.status_code}."


async def _product_names(standin: StandIn, auth: str | None, products: set[str]) -> dict[str, str]:
    names = {}
    for product in products:
        try:
            names[product] = str(
                (await standin.fetch(f"/v1/products/{product}", auth)).get("name") or product
            )
        except httpx.HTTPStatusError:
            names[product] = product
    return names


async def _customer_label(standin: StandIn, auth: str | None, customer: str | None) -> str:
    try:
        found = await standin.fetch(f"/v1/customers/{customer}", auth)
    except httpx.HTTPStatusError:
        return str(customer)
    return " · ".join(str(v) for v in (found.get("name"), found.get("email")) if v) or str(customer)


def _open(request: Request) -> dict[str, Any] | Response:
    """The path's checkout session if it can be paid, else the page saying why not (4xx)."""
    session = _standin(request).checkouts.get(request.path_params["session_id"])
    if session is None:
        return _message("Unknown checkout session", "There is no such checkout session.", 404)
    if session["status"] == "complete":
        return _message("Already paid", SPENT["complete"], 410, _success_url(session), "Continue")
    if session["status"] != "open":
        return _message("Checkout expired", SPENT.get(session["status"], "This session cannot be paid."), 410)
    return session


def _success_url(session: dict[str, Any]) -> str | None:
    url = session.get("success_url")
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


async def _checkout(
    request: Request, session: dict[str, Any], error: str | None = None, status: int = 200, card: str = ""
) -> Response:
    standin = _standin(request)
    auth = standin.keys.get(session["id"])
    item = session["line_items"][0]
    price = standin.prices[item["price"]]
    quantity = int(item.get("quantity") or 1)
    names = await _product_names(standin, auth, {price["product"]})
    return page(
        CHECKOUT,
        title=f"Subscribe to {names[price['product']]}",
        banner=BANNER,
        status=status,
        id=session["id"],
        customer=await _customer_label(standin, auth, session.get("customer")),
        product=names[price["product"]],
        amount=money(price["unit_amount"] * quantity, price["currency"]),
        unit=money(price["unit_amount"], price["currency"]),
        zero=money(0, price["currency"]),
        interval=price["recurring"]["interval"],
        quantity=quantity,
        trial_days=session["subscription_data"].get("trial_period_days"),
        error=error,
        card=card or "4242 4242 4242 4242",
    )


async def checkout_page(request: Request) -> Response:
    """GET /_standin/checkout/{id}: what the session buys, with Pay and Cancel."""
    session = _open(request)
    return session if isinstance(session, Response) else await _checkout(request, session)


async def pay(request: Request) -> Response:
    """POST /_standin/checkout/{id}/pay: pay, then 303 to the session's success_url."""
    session = _open(request)
    if isinstance(session, Response):
        return session
    card = str((await request.form()).get("card") or "")
    try:
        await _standin(request).pay(session, card)
    except httpx.HTTPStatusError as exc:
        return await _checkout(request, session, _refusal(exc), exc.response.status_code, card)
    if session["status"] != "complete":  # expired while another payment held the lock
        return _message("Checkout expired", SPENT["expired"], 410)
    success = _success_url(session)
    if not success:
        return _message("Paid", "The subscription is created.", 200)
    return RedirectResponse(success, status_code=303)


async def cancel_checkout(request: Request) -> Response:
    """POST /_standin/checkout/{id}/cancel: back to the session's cancel_url (the session stays open)."""
    session = _open(request)
    if isinstance(session, Response):
        return session
    if not session.get("cancel_url"):
        return _message("Canceled", "Nothing was paid.", 200)
    return RedirectResponse(session["cancel_url"], status_code=303)


async def portal_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    """GET /_standin/portal/{id}: the customer's subscriptions, to change the plan or cancel."""
    standin = _standin(request)
    portal = standin.portals.get(request.path_params["portal_id"])
    if portal is None:
        return _message("Unknown portal session", "There is no such billing portal session.", 404)
    auth = standin.keys.get(portal["id"])
    try:
        listed = await standin.fetch("/v1/subscriptions", auth, customer=portal["customer"])
    except httpx.HTTPStatusError as exc:  # a customer localstripe no longer knows
        listed, error, status = {"data": []}, error or _refusal(exc), exc.response.status_code
    prices = [p for p in standin.prices.values() if p["active"]]
    names = await _product_names(standin, auth, {p["product"] for p in prices})

    def label(price: dict[str, Any], quantity: int = 1) -> str:
        name = names.get(price["product"], price["product"])
        each = money(price["unit_amount"], price["currency"])
        seats = f"{quantity} seats at " if quantity > 1 else ""
        return f"{name}, {seats}{each} per {price['recurring']['interval']}"

    subscriptions = []
    for sub in listed["data"]:
        item = sub["items"]["data"][0]
        plan = item["plan"]
        current = standin.prices.get(plan["id"]) or {
            "product": plan.get("product"),
            "unit_amount": plan.get("amount"),
            "currency": plan.get("currency"),
            "recurring": {"interval": plan.get("interval")},
        }
        others = [p for p in prices if p["id"] != plan["id"]]
        others.sort(key=lambda p: (names.get(p["product"], ""), p["recurring"]["interval"], p["unit_amount"]))
        subscriptions.append(
            {
                "label": label(current, int(item.get("quantity") or 1)),
                "status": sub["status"],
                "trial_end": day(sub.get("trial_end")) if sub["status"] == "trialing" else "",
                "period_end": day(item.get("current_period_end") or sub.get("current_period_end")),
                "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
                "action": f"/_standin/portal/{portal['id']}/subscriptions/{sub['id']}",
                "others": [{"id": p["id"], "label": label(p)} for p in others],
            }
        )
    return_url = portal.get("return_url")
    return page(
        PORTAL,
        title="Billing",
        banner=BANNER,
        status=status,
        width="40rem",
        customer=await _customer_label(standin, auth, portal["customer"]),
        subscriptions=subscriptions,
        return_url=return_url,
        business=urlsplit(return_url).netloc if return_url else "",
        done=DONE.get(request.query_params.get("done", "")),
        error=error,
    )


async def _owned(request: Request) -> tuple[dict[str, Any], dict[str, Any]] | Response:
    """The portal session and the subscription of the path, or the page refusing them."""
    standin = _standin(request)
    portal = standin.portals.get(request.path_params["portal_id"])
    if portal is None:
        return _message("Unknown portal session", "There is no such billing portal session.", 404)
    try:
        sub = await standin.fetch(
            f"/v1/subscriptions/{request.path_params['subscription_id']}", standin.keys.get(portal["id"])
        )
    except httpx.HTTPStatusError:
        sub = {}
    if sub.get("customer") != portal["customer"] or sub.get("status") not in LIVE:
        return await portal_page(request, "That subscription is not one you can change.", 404)
    return portal, sub


async def change_plan(request: Request) -> Response:
    """POST .../subscriptions/{id}/price (form `price`): move the subscription to another price."""
    owned = await _owned(request)
    if isinstance(owned, Response):
        return owned
    portal, sub = owned
    standin = _standin(request)
    price = standin.prices.get(str((await request.form()).get("price") or ""))
    if price is None or not price["active"]:
        return await portal_page(request, "That price is not available.", 400)
    try:
        await standin.change_price(portal["id"], sub, price["id"])
    except httpx.HTTPStatusError as exc:
        return await portal_page(request, _refusal(exc), exc.response.status_code)
    return RedirectResponse(f"/_standin/portal/{portal['id']}?done=plan", status_code=303)


async def cancel_subscription(request: Request) -> Response:
    """POST .../subscriptions/{id}/cancel (form `when`: now, period_end or renew)."""
    owned = await _owned(request)
    if isinstance(owned, Response):
        return owned
    portal, sub = owned
    when = str((await request.form()).get("when") or "")
    if when not in ("now", "period_end", "renew"):
        return await portal_page(request, "Choose when the subscription ends.", 400)
    try:
        await _standin(request).cancel(portal["id"], sub["id"], when)
    except httpx.HTTPStatusError as exc:
        return await portal_page(request, _refusal(exc), exc.response.status_code)
    return RedirectResponse(f"/_standin/portal/{portal['id']}?done={when}", status_code=303)
