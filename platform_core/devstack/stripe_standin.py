"""A local stand-in for the Stripe endpoints localstripe lacks: Prices, Checkout Sessions, Billing Portal.

Everything else is forwarded to localstripe unchanged, so the SDK talks to one base URL
(STRIPE_API_BASE) in tests and `make dev`. It speaks Stripe's wire format (form-encoded requests,
JSON objects with `id` and `object`). A price is created in localstripe as a plan with the same id,
so subscriptions made from it are real localstripe subscriptions.

A session's `url` opens a page for a person (stripe_pages.py): the checkout page pays or cancels and
redirects back as Stripe's does, the portal page changes the plan or cancels the subscription. Paying
gives the customer a card, creates the subscription in localstripe and delivers
`checkout.session.completed` to the registered webhook endpoints, signed like Stripe's (localstripe then
sends its own events, as it does for the portal's changes). `POST /_standin/checkout/{id}/complete` pays
without the page and answers the session as JSON, for scripts and tests.

    python -m platform_core.devstack.stripe_standin --port 8421 --upstream http://127.0.0.1:8420
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from platform_core.devstack import stripe_pages

_INTERVALS = {"month": "month", "year": "year"}
DEFAULT_CARD = "4242424242424242"


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=v`) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node: Any = root
        for part, nxt in zip(parts, [*parts[1:], None], strict=True):
            if nxt is None:
                node[part] = value
                break
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            node = child
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _lists(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class StandIn:
    """The stand-in's state: prices, sessions and webhook endpoints, in memory."""

    def __init__(self, upstream: str, public_url: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.prices: dict[str, dict[str, Any]] = {}
        self.checkouts: dict[str, dict[str, Any]] = {}
        self.portals: dict[str, dict[str, Any]] = {}
        # The API key that created each checkout or portal session: its page acts with it.
        self.keys: dict[str, str | None] = {}
        self.webhooks: dict[str, tuple[str, str]] = {}
        self.http = httpx.AsyncClient(timeout=30)
        self._paying = asyncio.Lock()  # one payment or expiry at a time: a second click finds it paid

    async def _upstream(
        self, method: str, path: str, auth: str | None, data: Any = None, params: Any = None
    ) -> dict[str, Any]:
        """Call localstripe; its refusals raise httpx.HTTPStatusError."""
        headers = {"Authorization": auth} if auth else {}
        response = await self.http.request(
            method, f"{self.upstream}{path}", data=data, params=params, headers=headers
        )
        response.raise_for_status()
        return response.json()

    async def fetch(self, path: str, auth: str | None, **params: str) -> dict[str, Any]:
        """GET an object or a list from localstripe."""
        return await self._upstream("GET", path, auth, params=params or None)

    async def form(self, request: Request) -> dict[str, Any]:
        """The request's parameters (form body or query string)."""
        body = (await request.body()).decode()
        return unflatten(parse_qsl(body or request.url.query, keep_blank_values=True))

    async def create_price(self, request: Request) -> Response:
        """POST /v1/prices: a recurring price, kept as a localstripe plan of the same id."""
        params = await self.form(request)
        recurring = params.get("recurring") or {}
        interval = _INTERVALS.get(recurring.get("interval", ""))
        if not interval or not params.get("product") or not str(params.get("unit_amount", "")).isdigit():
            return _error(400, "A recurring price needs product, unit_amount and recurring[interval].")
        price_id = _new_id("price")
        await self._upstream(
            "POST",
            "/v1/plans",
            request.headers.get("authorization"),
            {
                "id": price_id,
                "product": params["product"],
                "amount": params["unit_amount"],
                "currency": params.get("currency", "usd"),
                "interval": interval,
            },
        )
        price = {
            "id": price_id,
            "object": "price",
            "active": True,
            "product": params["product"],
            "unit_amount": int(params["unit_amount"]),
            "currency": params.get("currency", "usd"),
            "recurring": {"interval": interval, "interval_count": 1},
            "lookup_key": params.get("lookup_key"),
            "metadata": params.get("metadata") or {},
            "type": "recurring",
            "created": int(time.time()),
            "livemode": False,
        }
        self.prices[price_id] = price
        return JSONResponse(price)

    async def get_price(self, request: Request) -> Response:
        """GET /v1/prices/{id}; POST updates `active` and metadata."""
        price = self.prices.get(request.path_params["price_id"])
        if price is None:
            return _error(404, "No such price.")
        if request.method == "POST":
            params = await self.form(request)
            if "active" in params:
                price["active"] = params["active"] == "true"
            price["metadata"] = {**price["metadata"], **(params.get("metadata") or {})}
        return JSONResponse(price)

    async def list_prices(self, request: Request) -> Response:
        """GET /v1/prices?product=&active=."""
        params = await self.form(request)
        found = [
            p
            for p in self.prices.values()
            if params.get("product") in (None, p["product"])
            and params.get("active") in (None, str(p["active"]).lower())
        ]
        return JSONResponse({"object": "list", "data": found, "has_more": False, "url": "/v1/prices"})

    async def create_checkout(self, request: Request) -> Response:
        """POST /v1/checkout/sessions (mode=subscription)."""
        params = await self.form(request)
        items = params.get("line_items") or []
        if params.get("mode") != "subscription" or not items or items[0].get("price") not in self.prices:
            return _error(400, "A subscription checkout needs line_items[0][price] of a known price.")
        session_id = _new_id("cs_test")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription",
            "status": "open",
            "url": f"{self.public_url}/_standin/checkout/{session_id}",
            "customer": params.get("customer"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "subscription": None,
            "line_items": items,
            "subscription_data": params.get("subscription_data") or {},
            "created": int(time.time()),
            "livemode": False,
        }
        self.checkouts[session_id] = session
        self.keys[session_id] = request.headers.get("authorization")
        return JSONResponse(session)

    async def get_checkout(self, request: Request) -> Response:
        """GET /v1/checkout/sessions/{id}."""
        session = self.checkouts.get(request.path_params["session_id"])
        if session is None:
            return _error(404, "No such checkout session.")
        return JSONResponse(session)

    async def expire_checkout(self, request: Request) -> Response:
        """POST /v1/checkout/sessions/{id}/expire: an open session can no longer be paid."""
        session = self.checkouts.get(request.path_params["session_id"])
        if session is None:
            return _error(404, "No such checkout session.")
        async with self._paying:  # a payment under way ends first: the session is then complete
            if session["status"] != "open":
                return _error(400, f"Only an open session can be expired; this one is {session['status']}.")
            session["status"] = "expired"
        await self.deliver("checkout.session.expired", session)
        return JSONResponse(session)

    async def complete_checkout(self, request: Request) -> Response:
        """POST /_standin/checkout/{id}/complete: pay as the checkout page does; answer the session."""
        session = self.checkouts.get(request.path_params["session_id"])
        if session is None or session["status"] != "open":
            return _error(404, "No open checkout session.")
        card = (await self.form(request)).get("card", DEFAULT_CARD)
        await self.pay(session, card, request.headers.get("authorization"))
        return JSONResponse(session)

    async def pay(self, session: dict[str, Any], card: str, auth: str | None = None) -> None:
        """What paying on the checkout page does: card, subscription, `checkout.session.completed`.

        A session that is no longer open is left as it is. localstripe's refusal of the card raises
        httpx.HTTPStatusError, and the session stays open.
        """
        auth = auth or self.keys.get(session["id"])
        async with self._paying:
            if session["status"] != "open":
                return
            number = "".join(ch for ch in card if ch.isdigit())
            token = await self._upstream(
                "POST",
                "/v1/tokens",
                auth,
                {
                    "card[number]": number,
                    "card[exp_month]": "12",
                    "card[exp_year]": "2040",
                    "card[cvc]": "123",
                },
            )
            await self._upstream(
                "POST", f"/v1/customers/{session['customer']}/sources", auth, {"source": token["id"]}
            )
            item = session["line_items"][0]
            created = {
                "customer": session["customer"],
                "items[0][plan]": item["price"],
                "items[0][quantity]": item.get("quantity", "1"),
            }
            trial_days = session["subscription_data"].get("trial_period_days")
            if trial_days:
                created["trial_period_days"] = trial_days
            subscription = await self._upstream("POST", "/v1/subscriptions", auth, created)
            session.update(status="complete", subscription=subscription["id"])
        await self.deliver("checkout.session.completed", session)

    async def change_price(self, portal_id: str, subscription: dict[str, Any], price_id: str) -> None:
        """The portal's plan change: the subscription's item moves to another price (same quantity);
        localstripe sends `customer.subscription.updated`."""
        item = subscription["items"]["data"][0]
        await self._upstream(
            "POST",
            f"/v1/subscriptions/{subscription['id']}",
            self.keys.get(portal_id),
            {
                "items[0][id]": item["id"],
                "items[0][price]": price_id,
                "items[0][quantity]": str(item.get("quantity") or 1),
                "proration_behavior": "create_prorations",
            },
        )

    async def cancel(self, portal_id: str, subscription_id: str, when: str) -> None:
        """The portal's cancellation: `now` cancels (localstripe sends `customer.subscription.deleted`),
        `period_end` sets it to end with the period and `renew` undoes that (`...updated`)."""
        auth = self.keys.get(portal_id)
        if when == "now":
            await self._upstream("DELETE", f"/v1/subscriptions/{subscription_id}", auth)
            return
        flag = "true" if when == "period_end" else "false"
        await self._upstream(
            "POST", f"/v1/subscriptions/{subscription_id}", auth, {"cancel_at_period_end": flag}
        )

    async def create_portal(self, request: Request) -> Response:
        """POST /v1/billing_portal/sessions."""
        params = await self.form(request)
        if not params.get("customer"):
            return _error(400, "customer is required.")
        portal_id = _new_id("bps")
        portal = {
            "id": portal_id,
            "object": "billing_portal.session",
            "customer": params["customer"],
            "return_url": params.get("return_url"),
            "url": f"{self.public_url}/_standin/portal/{portal_id}",
            "created": int(time.time()),
            "livemode": False,
        }
        self.portals[portal_id] = portal
        self.keys[portal_id] = request.headers.get("authorization")
        return JSONResponse(portal)

    async def config_webhook(self, request: Request) -> Response:
        """POST /_config/webhooks/{id}: remember the endpoint, and register it with localstripe too."""
        params = await self.form(request)
        self.webhooks[request.path_params["hook_id"]] = (params["url"], params["secret"])
        await self.http.post(
            f"{self.upstream}{request.url.path}",
            content=await request.body(),
            headers={
                "content-type": request.headers.get("content-type", "application/x-www-form-urlencoded")
            },
        )
        return Response(status_code=200)

    async def deliver(self, event_type: str, obj: dict[str, Any]) -> None:
        """POST a signed event to every registered endpoint (Stripe's `t=...,v1=...` scheme)."""
        created = int(time.time())
        event = {
            "id": _new_id("evt"),
            "object": "event",
            "type": event_type,
            "created": created,
            "livemode": False,
            "data": {"object": obj},
        }
        payload = json.dumps(event).encode()
        for url, secret in self.webhooks.values():
            digest = hmac.new(secret.encode(), f"{created}.".encode() + payload, hashlib.sha256).hexdigest()
            headers = {"content-type": "application/json", "stripe-signature": f"t={created},v1={digest}"}
            await self.http.post(url, content=payload, headers=headers)

    async def forward(self, request: Request) -> Response:
        """Everything else goes to localstripe as it came."""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        response = await self.http.request(
            request.method,
            f"{self.upstream}{request.url.path}",
            params=request.query_params,
            content=await request.body(),
            headers=headers,
        )
        return Response(response.content, status_code=response.status_code, media_type="application/json")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": "invalid_request_error", "message": message}}, status_code=status)


def create_app(upstream: str, public_url: str) -> Starlette:
    """The stand-in as an ASGI app."""
    standin = StandIn(upstream, public_url)
    methods = ["GET", "POST", "DELETE"]
    app = Starlette(
        routes=[
            Route("/v1/prices", standin.create_price, methods=["POST"]),
            Route("/v1/prices", standin.list_prices, methods=["GET"]),
            Route("/v1/prices/{price_id}", standin.get_price, methods=["GET", "POST"]),
            Route("/v1/checkout/sessions", standin.create_checkout, methods=["POST"]),
            Route("/v1/checkout/sessions/{session_id}", standin.get_checkout, methods=["GET"]),
            Route("/v1/checkout/sessions/{session_id}/expire", standin.expire_checkout, methods=["POST"]),
            Route("/_standin/checkout/{session_id}/complete", standin.complete_checkout, methods=["POST"]),
            Route("/v1/billing_portal/sessions", standin.create_portal, methods=["POST"]),
            *stripe_pages.routes(),
            Route("/_config/webhooks/{hook_id}", standin.config_webhook, methods=["POST"]),
            Route("/{path:path}", standin.forward, methods=methods),
        ]
    )
    app.state.standin = standin
    return app


def main() -> None:
    """Run the stand-in in front of a localstripe server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8421)
    parser.add_argument("--upstream", default="http://127.0.0.1:8420")
    args = parser.parse_args()
    public = f"http://127.0.0.1:{args.port}"
    uvicorn.run(create_app(args.upstream, public), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
