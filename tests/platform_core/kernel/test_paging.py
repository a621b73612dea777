"""Every list endpoint pages through the one helper: same parameters, same page schema, same total."""

from __future__ import annotations

from typing import get_origin

from fastapi.routing import APIRoute

from platform_core.kernel.paging import Page, page_params

LISTS = {
    "/api/v1/items",
    "/api/v1/jobs",
    "/api/v1/uploads",
    "/api/v1/members",
    "/api/v1/invitations",
    "/api/v1/roles",
    "/api/v1/api-keys",
    "/api/v1/audit",
    "/api/v1/operator/tenants",
    "/api/v1/operator/tenants/{slug}/members",
    "/api/v1/operator/stripe-events",
    "/api/v1/operator/actions",
    "/api/v1/webhook-endpoints",
    "/api/v1/webhook-endpoints/{endpoint_id}/deliveries",
    "/api/v1/chat/rooms",
    "/api/v1/chat/rooms/{room_id}/members",
}


def _get_routes(app) -> list[APIRoute]:
    return [r for r in app.router.routes if isinstance(r, APIRoute) and "GET" in r.methods]


def test_every_list_answers_a_page_read_by_the_paging_dependency(app):
    routes = _get_routes(app)
    paged = {
        r.path: r for r in routes if isinstance(r.response_model, type) and issubclass(r.response_model, Page)
    }
    assert set(paged) == LISTS
    for path, route in paged.items():
        assert any(d.call is page_params for d in route.dependant.dependencies), path
    # The permission and event catalogues are fixed sets, not lists that grow with data.
    fixed = [r.path for r in routes if get_origin(r.response_model) is list]
    assert sorted(fixed) == ["/api/v1/roles/permissions", "/api/v1/webhook-events"]


def test_paging_parameters_are_documented_alike(app):
    spec = app.openapi()
    for path in LISTS:
        params = {p["name"]: p["schema"] for p in spec["paths"][path]["get"]["parameters"]}
        assert params["page"] | {"description": None} == {
            "type": "integer",
            "minimum": 1,
            "maximum": 100_000,
            "default": 1,
            "title": "Page",
            "description": None,
        }, path
        assert (params["page_size"]["minimum"], params["page_size"]["maximum"]) == (1, 100), path
        assert params["page_size"]["default"] == 20, path
