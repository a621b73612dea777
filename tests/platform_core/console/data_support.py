"""Shared by the tests of the console's data pages: a user of a tenant, signed in to the console."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.conftest import client_for, host_of
from tests.factories import create_user
from tests.platform_core.console.support import console_sign_in, csrf_of


@asynccontextmanager
async def signed_in_as(app: Any, db: Any, tenant: Any, role: str) -> AsyncIterator[httpx.AsyncClient]:
    """A new user of `tenant` with a built-in `role`, signed in to the console."""
    user = await create_user(db, tenant, role=role)
    async with client_for(app, host_of(tenant)) as client:
        signed = await console_sign_in(client, user.email)
        assert signed.status_code == 303, signed.text
        client.user = user  # type: ignore[attr-defined]
        yield client


async def token(client: httpx.AsyncClient, page: str = "/") -> str:
    """The CSRF token of the client's session (read from a page's form)."""
    return csrf_of((await client.get(page)).text)


def error_of(html: str, name: str) -> str:
    """The error message shown next to the field `name`."""
    found = re.search(rf'<small class="error" id="e-{re.escape(name)}">([^<]*)</small>', html)
    assert found, f"no error shown for {name}"
    return html_lib.unescape(found.group(1))
