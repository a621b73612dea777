"""405 answers name every method of the path, and a static path is never taken for an id."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/api/v1/items", "GET, POST"),
        ("PUT", "/api/v1/items", "GET, POST"),
        ("POST", "/api/v1/items/00000000-0000-0000-0000-000000000000", "DELETE, GET, PATCH"),
        ("GET", "/api/v1/invitations/accept", "POST"),
        ("DELETE", "/api/v1/invitations/accept", "POST"),
        ("PATCH", "/api/v1/roles/permissions", "GET"),
        ("PUT", "/api/v1/users/me", "DELETE, GET, PATCH"),
    ],
)
async def test_405_lists_every_allowed_method(client_a, method, path, allow):
    response = await client_a.request(method, path)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == allow


async def test_ids_are_still_validated(client_a):
    response = await client_a.get("/api/v1/invitations/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_static_path_still_served(client_a):
    assert (await client_a.get("/api/v1/roles/permissions")).status_code == 200
