"""Helpers for console tests over HTTP: read a page's CSRF token, post its forms, sign in."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.factories import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
_NONCE = re.compile(r'name="form_nonce" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def nonce_of(html: str) -> str:
    """The one-time token of the first form that has one."""
    found = _NONCE.search(html)
    assert found, "the page has no form with a nonce"
    return found.group(1)


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, data: dict[str, Any]
) -> httpx.Response:
    """Open `page`, then post `data` to `action` with the page's CSRF token (as a browser would)."""
    html = (await client.get(page)).text
    return await client.post(action, data={"csrf_token": csrf_of(html), **data})


async def console_sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    """Sign in through the console's form; the client keeps the session cookie."""
    return await post_form(client, "/sign-in", "/sign-in", {"email": email, "password": password})
