"""One OpenAPI document per kind of host, listing every answer a route can give, in the error format."""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from platform_core.app.openapi.contract import ErrorAnswer, RouteContract, contract_of
from platform_core.app.openapi.webhooks import add_webhooks
from platform_core.kernel.tenancy import HostKind

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable, machine-readable: branch on this."},
                "message": {"type": "string", "description": "For people; may change."},
                "details": {"description": "More about the error (fields, limits, ids), or null."},
            },
        }
    },
}
# The Authorize button of /docs: a password sign-in (the token endpoint takes the OAuth2 password
# form) on tenant and operator hosts, and an API key pasted as a bearer token on tenant hosts.
SECURITY_SCHEMES: dict[HostKind, dict[str, Any]] = {
    HostKind.TENANT: {
        "password": {
            "type": "oauth2",
            "description": "Sign in with a member's email (as username) and password.",
            "flows": {"password": {"tokenUrl": "/api/v1/auth/token", "scopes": {}}},
        },
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`pk_...`) created with POST /api/v1/api-keys.",
        },
    },
    HostKind.OPERATOR: {
        "operatorPassword": {
            "type": "oauth2",
            "description": "Sign in with an operator's email (as username) and password.",
            "flows": {"password": {"tokenUrl": "/api/v1/operator/auth/token", "scopes": {}}},
        }
    },
    HostKind.PLATFORM: {},
}
TITLES = {
    HostKind.TENANT: "tenant API (served on each tenant's host)",
    HostKind.OPERATOR: "operator API (served on the operator host)",
    HostKind.PLATFORM: "platform endpoints (served on the apex and reserved hosts)",
}
_FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")


def routes_for(app: FastAPI, kind: HostKind) -> list[tuple[APIRoute, list[RouteContract]]]:
    """The documented routes a host of this kind serves, with their contracts (one per method)."""
    policy = getattr(app.state, "access_policy", None)
    served = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        contracts = [contract_of(route, method, policy) for method in sorted(route.methods or ())]
        if all(c.host in (None, kind) for c in contracts):
            served.append((route, contracts))
    return served


def build_document(app: FastAPI, kind: HostKind) -> dict[str, Any]:
    """The OpenAPI document of one kind of host."""
    served = routes_for(app, kind)
    document = get_openapi(
        title=f"{app.title}: {TITLES[kind]}",
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=[route for route, _ in served],
    )
    document = copy.deepcopy(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in _FASTAPI_422_SCHEMAS:
        schemas.pop(name, None)
    schemas["Error"] = ERROR_SCHEMA
    if SECURITY_SCHEMES[kind]:
        components["securitySchemes"] = SECURITY_SCHEMES[kind]
    for route, contracts in served:
        for contract in contracts:
            operation = document["paths"][route.path_format][contract.method.lower()]
            _document_operation(operation, contract, kind)
    if kind is HostKind.TENANT:
        add_webhooks(document)
    return document


def _document_operation(operation: dict[str, Any], contract: RouteContract, kind: HostKind) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    had_validation = responses.pop("422", None) is not None
    answers = set(contract.errors)
    if had_validation or any(a.status == 422 and a.code == "validation_error" for a in answers):
        answers.add(ErrorAnswer(422, "validation_error"))
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            answers.add(ErrorAnswer(422, "invalid_json"))
        if contract.opens_session:
            answers.add(ErrorAnswer(422, "invalid_value"))
    if "requestBody" in operation:
        answers.add(ErrorAnswer(408, "request_timeout"))  # BodyReadTimeoutMiddleware
    by_status: dict[int, set[str | None]] = {}
    for answer in answers:
        by_status.setdefault(answer.status, set()).add(answer.code)
    for status in sorted(by_status):
        responses[str(status)] = _error_response(status, by_status[status])
    operation["security"] = _security(contract, kind)
    note = _gate_note(contract)
    operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{note}".strip()


def _error_response(status: int, codes: set[str | None]) -> dict[str, Any]:
    phrase = HTTPStatus(status).phrase
    schema: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
    named = sorted(code for code in codes if code is not None)
    if None in codes:  # any code of this status (a failing dependency names itself)
        description = phrase + (f": {', '.join(f'`{c}`' for c in named)}, or another code" if named else "")
    else:
        description = f"{phrase}: {', '.join(f'`{c}`' for c in named)}"
        restriction = {"properties": {"error": {"properties": {"code": {"enum": named}}}}}
        schema = {"allOf": [schema, restriction]}
    content = {"application/json": {"schema": schema}}
    response: dict[str, Any] = {"description": description, "content": content}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    if status == 429:
        retry_after = {"description": "Seconds to wait.", "schema": {"type": "string"}}
        response["headers"] = {"Retry-After": retry_after}
    return response


def _security(contract: RouteContract, kind: HostKind) -> list[dict[str, list[str]]]:
    if contract.gate is None or contract.gate == "public":
        return []
    if contract.gate == "operator":
        return [{"operatorPassword": []}]
    if contract.gate == "user":
        return [{"password": []}]
    return [{"password": []}, {"apiKey": []}]


def _gate_note(contract: RouteContract) -> str:
    if contract.permission is not None:
        return f"**Permission:** `{contract.permission.value}` (a signed-in member or an API key holding it)."
    if contract.gate == "user":
        return "**Gate:** a signed-in user acting on their own account (not an API key)."
    if contract.gate == "authenticated":
        return "**Gate:** any signed-in member or API key of the workspace."
    if contract.gate == "operator":
        return "**Gate:** a signed-in platform operator."
    return "**Gate:** public, no credentials."
