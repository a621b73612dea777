"""Every console page with an id in its path answers an unknown, another tenant's or a malformed id with
the 404 page: never data, never a 500. The pages are read from the app, so a new page is walked too."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from platform_core.console.routers import TENANT_ROUTERS
from platform_core.console.routing import ConsoleRoute
from tests.conftest import client_for, host_of
from tests.platform_core.console.support import console_sign_in, csrf_of

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def id_routes() -> list[tuple[str, str]]:
    """(method, path) of every tenant console route with a parameter in its path."""
    found = set()
    for router in TENANT_ROUTERS:
        for route in router.routes:
            assert isinstance(route, ConsoleRoute)
            if _PARAM.search(route.path):
                found |= {(method, route.path) for method in route.methods if method != "HEAD"}
    return sorted(found)


ROUTES = id_routes()


@pytest.fixture
async def owner_browser(app: Any, tenant_a: Any, owner_a: Any) -> Any:
    """The owner of tenant alpha, signed in to the console."""
    async with client_for(app, host_of(tenant_a)) as client:
        await console_sign_in(client, owner_a.email)
        yield client


def test_the_walk_finds_the_pages_with_ids():
    assert len(ROUTES) >= 15  # items, files, jobs, members, invitations, roles, API keys, ...
    assert all(method in ("GET", "POST") for method, _ in ROUTES)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=lambda v: str(v))
@pytest.mark.parametrize("value", ["unknown", "malformed"])
async def test_an_id_that_names_nothing_here_is_the_404_page(owner_browser, method, path, value):
    ident = str(uuid.uuid4()) if value == "unknown" else "not-an-id"
    url = _PARAM.sub(ident, path)
    if method == "GET":
        response = await owner_browser.get(url)
    else:
        token = csrf_of((await owner_browser.get("/")).text)
        response = await owner_browser.post(url, data={"csrf_token": token})
    assert response.status_code == 404, (url, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
