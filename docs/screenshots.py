"""Screenshots of the console's main pages, taken from a running `make dev` stack (`make screenshots`).

    make dev            # in one terminal
    make screenshots    # in another: writes docs/screenshots/*.png, which the README shows

It signs in as the demo owner and the local operator that `make dev` prints, adds a little sample data
to the demo tenant through the API when it has none, and photographs each page with Debian's Chromium.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

from platform_core.cli.dev import (
    DEMO_OPERATOR_EMAIL,
    DEMO_OPERATOR_PASSWORD,
    DEMO_OWNER_EMAIL,
    DEMO_OWNER_PASSWORD,
    DEMO_SLUG,
)

OUT = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP *.localhost 127.0.0.1,MAP localhost 127.0.0.1",
]
# (file name, path) of each tenant console page photographed, signed in as the demo owner.
TENANT_PAGES = [
    ("home", "/"),
    ("items", "/items"),
    ("item-new", "/items/new"),
    ("members", "/members"),
    ("roles", "/roles"),
    ("api-keys", "/api-keys"),
    ("billing", "/settings/billing"),
    ("uploads", "/uploads"),
    ("reports", "/reports"),
    ("audit", "/audit"),
    ("webhooks", "/webhooks"),
    ("chat", "/chat"),
    ("settings", "/settings"),
    ("account", "/account"),
]
OPERATOR_PAGES = [
    ("operator-tenants", "/"),
    ("operator-fleet", "/fleet"),
    ("operator-stripe-events", "/stripe-events"),
    ("operator-tenant", f"/tenants/{DEMO_SLUG}"),
    ("operator-activity", "/activity"),
]
SAMPLE_ITEMS = [
    ("Draft the launch announcement", "open", ["launch", "marketing"]),
    ("Review the pricing page", "in_progress", ["web"]),
    ("Migrate the billing webhooks", "done", ["billing"]),
    ("Interview three design partners", "open", ["research"]),
    ("Write the onboarding checklist", "in_progress", ["docs"]),
]


def seed(api: str, host: str) -> str | None:
    """Sample items, an invitation and a chat room in the demo tenant, once; the room's id."""
    headers = {"host": host}
    token = httpx.post(
        f"{api}/api/v1/auth/token",
        data={"username": DEMO_OWNER_EMAIL, "password": DEMO_OWNER_PASSWORD},
        headers=headers,
    )
    token.raise_for_status()
    headers["authorization"] = f"Bearer {token.json()['access_token']}"
    if httpx.get(f"{api}/api/v1/items", headers=headers).json()["total"] == 0:
        for title, status, tags in SAMPLE_ITEMS:
            body: dict[str, Any] = {"title": title, "status": status, "tags": tags}
            httpx.post(f"{api}/api/v1/items", json=body, headers=headers).raise_for_status()
    invited = httpx.get(f"{api}/api/v1/invitations", headers=headers).json()
    if invited.get("total", 0) == 0:
        httpx.post(
            f"{api}/api/v1/invitations", json={"email": "sam@example.com", "role": "member"}, headers=headers
        )
    rooms = httpx.get(f"{api}/api/v1/chat/rooms", headers=headers).json().get("items", [])
    if rooms:
        return str(rooms[0]["id"])
    room = httpx.post(
        f"{api}/api/v1/chat/rooms", json={"name": "launch", "topic": "The launch week"}, headers=headers
    )
    if room.status_code != 201:
        return None
    room_id = str(room.json()["id"])
    for body in ("The announcement draft is in the items list.", "Pricing page reviewed: two fixes left."):
        httpx.post(f"{api}/api/v1/chat/rooms/{room_id}/messages", json={"body": body}, headers=headers)
    return room_id


def sign_in(page: Page, origin: str, email: str, password: str) -> None:
    """Sign in through a console's form."""
    page.goto(f"{origin}/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def shoot(page: Page, origin: str, pages: list[tuple[str, str]]) -> list[str]:
    """Photograph each page; return the names taken."""
    taken = []
    for name, path in pages:
        response = page.goto(f"{origin}{path}")
        page.wait_for_load_state("networkidle")
        if response is None or response.status >= 400:
            print(f"skipped {path}: {response.status if response else 'no answer'}", file=sys.stderr)
            continue
        page.screenshot(path=str(OUT / f"{name}.png"))
        taken.append(name)
    return taken


def main() -> None:
    """Take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="the port `make dev` serves on")
    parser.add_argument("--base-domain", default="localhost")
    options = parser.parse_args()
    host = f"{DEMO_SLUG}.{options.base_domain}:{options.port}"
    room_id = seed(f"http://127.0.0.1:{options.port}", host)
    tenant_pages = TENANT_PAGES + ([("chat-room", f"/chat/{room_id}")] if room_id else [])
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            visitor = browser.new_page(viewport={"width": 1280, "height": 800})
            visitor.goto(f"http://{host}/sign-in")
            visitor.screenshot(path=str(OUT / "sign-in.png"))
            owner = browser.new_page(viewport={"width": 1280, "height": 800})
            sign_in(owner, f"http://{host}", DEMO_OWNER_EMAIL, DEMO_OWNER_PASSWORD)
            taken = ["sign-in", *shoot(owner, f"http://{host}", tenant_pages)]
            operator = browser.new_page(viewport={"width": 1280, "height": 800})
            admin = f"http://admin.{options.base_domain}:{options.port}"
            sign_in(operator, admin, DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD)
            taken += shoot(operator, admin, OPERATOR_PAGES)
        finally:
            browser.close()
    print(f"{len(taken)} screenshots in {OUT}: {', '.join(taken)}")


if __name__ == "__main__":
    main()
