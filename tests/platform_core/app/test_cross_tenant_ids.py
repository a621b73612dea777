"""Every route that takes an id, called on tenant alpha's host with tenant beta's ids: not found, never data.

The routes are read from the app (`ROUTERS`, checked against the app itself), not listed here, so a new
route is walked as soon as it exists. What counts as an id (a reference to an object of the tenant):

- every path parameter of a route served on a tenant's host;
- a body field typed UUID or named `*_id(s)`, or one that names an object by its name (`role`);
- a body field carrying an opaque token (`token`, `*_token`): a link, an invitation or a session of
  one user, found by the token alone.

Which routes are walked: those served on a tenant's host (a dependency marked `serves_on(TENANT)`).
A route on the operator host names tenants by slug across the registry on purpose (an operator is
inside no tenant, so there is no "other tenant" to reach), and a platform-host route (Stripe's
webhooks) serves no tenant at all: their isolation is the host itself, tested with the operator and
webhook tests. A route on no kind of host may take no id at all (checked below).

Each reference is tried in turn: the object is made in beta, every other reference of the route is an
object of alpha, and alpha's owner (every permission, a paid plan) calls the route. The answer is 404
for a path id (422 for a name that alpha does not have, 4xx for a token); never 2xx, never a string of
beta's object in the answer, and beta's object is unchanged afterwards. A kind of reference with no
maker below fails the test: whoever adds a route with a new kind of id says how to make one.
"""

from __future__ import annotations

import enum
import types
import typing
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, EmailStr, ValidationError
from sqlalchemy import Table, select

from platform_core.access.models import ApiKey, Invitation, LinkPurpose, OneTimeToken, RefreshToken
from platform_core.access.permissions import builtin_role_id
from platform_core.app.main import ROUTERS
from platform_core.chat.models import ChatMessage, ChatRoom, ChatRoomMember
from platform_core.console.routers import ROUTERS as CONSOLE_ROUTERS
from platform_core.items.models import Item
from platform_core.jobs.models import Job
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.engines import Database
from platform_core.kernel.events import DomainEvent
from platform_core.kernel.security.tokens import hash_opaque_token, new_opaque_token
from platform_core.kernel.tenancy import HostKind, host_kind_of
from platform_core.reports.models import Report
from platform_core.uploads.dependencies import get_object_store
from platform_core.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import PASSWORD, create_items, create_role, create_upload, create_user

PATH, BODY = "path", "body"
REFERENCES_BY_NAME = frozenset({"role"})  # body fields naming a tenant object by its name


# --- the routes, as the app declares them -----------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """One place a route takes a reference: a path parameter or a body field."""

    where: str
    name: str


@dataclass(frozen=True)
class Case:
    """One reference of one route, to be tried with beta's object."""

    method: str
    path: str
    reference: Reference

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.reference.where} {self.reference.name}]"


def _walk_dependant(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk_dependant(sub)


def host_kinds(route: APIRoute) -> set[HostKind]:
    """The kinds of host a route's dependencies confine it to."""
    kinds = {host_kind_of(d.call) for d in _walk_dependant(route.dependant) if d.call is not None}
    return {kind for kind in kinds if kind is not None}


def needs_storage(route: APIRoute) -> bool:
    """Whether the route takes the object store (it answers 503 without one configured)."""
    return any(d.call is get_object_store for d in _walk_dependant(route.dependant))


def path_param_types(route: APIRoute) -> dict[str, Any]:
    """Each path parameter of the route (declared by the route or a dependency) and its type."""
    return {p.name: p.field_info.annotation for d in _walk_dependant(route.dependant) for p in d.path_params}


def body_model(route: APIRoute) -> type[BaseModel] | None:
    """The route's JSON body model, if its body is one."""
    params = route.dependant.body_params
    model = params[0].field_info.annotation if len(params) == 1 else None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def body_fields(route: APIRoute) -> dict[str, Any]:
    """The fields of the route's body (a JSON model's, or its form fields) and their types."""
    model = body_model(route)
    if model is not None:
        return {name: field.annotation for name, field in model.model_fields.items()}
    return {p.name: p.field_info.annotation for p in route.dependant.body_params}


def _unwrap(annotation: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` as X; `list[X]` as X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        elif origin is list:
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


def is_token(name: str) -> bool:
    """Whether a body field carries an opaque token."""
    return name == "token" or name.endswith("_token")


def is_reference(name: str, annotation: Any) -> bool:
    """Whether a body field refers to an object of the tenant (see the module docstring)."""
    return (
        _unwrap(annotation) is uuid.UUID
        or name.endswith(("_id", "_ids"))
        or name in REFERENCES_BY_NAME
        or is_token(name)
    )


def references(route: APIRoute) -> list[Reference]:
    """Every reference a route takes."""
    found = [Reference(PATH, name) for name in path_param_types(route)]
    return found + [
        Reference(BODY, name) for name, kind in body_fields(route).items() if is_reference(name, kind)
    ]


def api_routes(routers: Any) -> list[APIRoute]:
    """The API routes of the routers (or of an app's router)."""
    return [route for router in routers for route in router.routes if isinstance(route, APIRoute)]


def walked_routes() -> list[APIRoute]:
    """The routes served on a tenant's host."""
    return [route for route in api_routes(ROUTERS) if HostKind.TENANT in host_kinds(route)]


CASES = [
    Case(method, route.path, reference)
    for route in walked_routes()
    for reference in references(route)
    for method in sorted(route.methods)
]


def _route(app: FastAPI, case: Case) -> APIRoute:
    return next(r for r in api_routes([app.router]) if r.path == case.path and case.method in r.methods)


# --- objects of a tenant, one maker per kind of reference -------------------------------------------


@dataclass(frozen=True)
class Made:
    """An object made in a tenant: the value that names it, its data only a leak would show, its row."""

    value: str
    marks: tuple[str, ...]
    table: Table
    id: uuid.UUID

    async def row(self, db: Database, tenant: TenantContext) -> dict[str, Any]:
        """The object's row as it is now, read through the tenant's own binding."""
        async with db.session(tenant.schema_name) as session:
            result = await session.execute(select(self.table).where(self.table.c.id == self.id))
            return dict(result.mappings().one())


Maker = Callable[[Database, TenantContext, str], Awaitable[Made]]


async def _add(db: Database, tenant: TenantContext, row: Any) -> None:
    async with db.session(tenant.schema_name) as session:
        session.add(row)
        await session.commit()


async def make_item(db: Database, tenant: TenantContext, tag: str) -> Made:
    """An item."""
    [item] = await create_items(db, tenant, title=f"item {tag}", description=f"secret {tag}")
    return Made(str(item.id), (f"item {tag}", f"secret {tag}"), Item.__table__, item.id)


async def make_job(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A running job."""
    job = Job(id=uuid.uuid4(), type=f"export_{tag}", status="running", progress=40, params={"q": tag})
    await _add(db, tenant, job)
    return Made(str(job.id), (f"export_{tag}",), Job.__table__, job.id)


async def make_report(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A report kept in the database."""
    report = Report(
        id=uuid.uuid4(),
        kind="items_csv",
        filename=f"report-{tag}.csv",
        content_type="text/csv",
        size_bytes=len(f"a,{tag}\n"),
        content=f"a,{tag}\n".encode(),
    )
    await _add(db, tenant, report)
    return Made(str(report.id), (f"report-{tag}", f"a,{tag}"), Report.__table__, report.id)


async def make_upload(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A stored upload (its row; no bytes are needed to find it)."""
    upload = await create_upload(db, tenant, filename=f"upload-{tag}.bin")
    return Made(str(upload.id), (f"upload-{tag}",), upload.__table__, upload.id)


async def make_member(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A member with the member role."""
    user = await create_user(db, tenant, role="member", email=f"member-{tag}@example.org")
    return Made(str(user.id), (f"member-{tag}@example.org",), user.__table__, user.id)


async def _invitation(db: Database, tenant: TenantContext, tag: str) -> tuple[Invitation, str]:
    token = new_opaque_token()
    invitation = Invitation(
        id=uuid.uuid4(),
        email=f"invited-{tag}@example.org",
        role_id=builtin_role_id("member"),
        token_hash=hash_opaque_token(token),
        expires_at=utcnow() + timedelta(days=7),
    )
    await _add(db, tenant, invitation)
    return invitation, token


async def make_invitation(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A pending invitation."""
    invitation, _ = await _invitation(db, tenant, tag)
    return Made(str(invitation.id), (f"invited-{tag}@example.org",), Invitation.__table__, invitation.id)


async def make_invitation_token(db: Database, tenant: TenantContext, tag: str) -> Made:
    """The token of a pending invitation."""
    invitation, token = await _invitation(db, tenant, tag)
    return Made(token, (f"invited-{tag}@example.org",), Invitation.__table__, invitation.id)


async def make_role(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A custom role (built-in roles have the same ids in every tenant: they name nothing foreign)."""
    role = await create_role(db, tenant, f"role-{tag}", ["items:read"])
    return Made(str(role.id), (f"role-{tag}",), role.__table__, role.id)


async def make_role_name(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A custom role, named by its name: what may not leak is its id."""
    role = await create_role(db, tenant, f"role-{tag}", ["items:read"])
    return Made(role.name, (str(role.id),), role.__table__, role.id)


async def make_api_key(db: Database, tenant: TenantContext, tag: str) -> Made:
    """An API key of a new member."""
    creator = await create_user(db, tenant, role="admin", email=f"key-owner-{tag}@example.org")
    secret = "pk_" + new_opaque_token()
    key = ApiKey(
        id=uuid.uuid4(),
        name=f"key {tag}",
        prefix=secret[:12],
        secret_hash=hash_opaque_token(secret),
        scopes=["items:read"],
        created_by_id=creator.id,
    )
    await _add(db, tenant, key)
    return Made(str(key.id), (f"key {tag}", secret[:12], f"key-owner-{tag}"), ApiKey.__table__, key.id)


async def make_webhook_endpoint(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A webhook endpoint (its URL and secret are what a leak would show)."""
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        url=f"https://hooks-{tag}.example.org/in",
        events=["item.created"],
        secret=f"whsec_{tag}",
    )
    await _add(db, tenant, endpoint)
    return Made(str(endpoint.id), (f"hooks-{tag}", f"whsec_{tag}"), WebhookEndpoint.__table__, endpoint.id)


async def make_webhook_delivery(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A delivery of an event to a webhook endpoint."""
    endpoint = await make_webhook_endpoint(db, tenant, tag)
    event_id = f"msg_{uuid.uuid4().hex}"
    payload = {
        "type": "item.created",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "data": {"title": f"ev {tag}"},
    }
    async with db.session(tenant.schema_name) as session:
        session.add(DomainEvent(id=event_id, type="item.created", payload=payload, fanned_out=True))
        await session.flush()
        seq = (await session.execute(select(DomainEvent.seq).where(DomainEvent.id == event_id))).scalar_one()
        delivery = WebhookDelivery(
            id=uuid.uuid4(),
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_seq=seq,
            event_type="item.created",
            status="failed",
            response_body=f"body {tag}",
        )
        session.add(delivery)
        await session.commit()
    return Made(str(delivery.id), (event_id, f"body {tag}"), WebhookDelivery.__table__, delivery.id)


def _link_token(purpose: LinkPurpose, *, verified: bool) -> Maker:
    async def make(db: Database, tenant: TenantContext, tag: str) -> Made:
        """A user's emailed link token."""
        fields = {} if verified else {"email_verified_at": None}
        user = await create_user(db, tenant, role="member", email=f"linked-{tag}@example.org", **fields)
        token = new_opaque_token()
        row = OneTimeToken(
            id=uuid.uuid4(),
            user_id=user.id,
            purpose=purpose.value,
            token_hash=hash_opaque_token(token),
            expires_at=utcnow() + timedelta(hours=1),
        )
        await _add(db, tenant, row)
        return Made(token, (f"linked-{tag}@example.org", str(user.id)), OneTimeToken.__table__, row.id)

    return make


async def make_refresh_token(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A live refresh token of a user's session."""
    user = await create_user(db, tenant, role="member", email=f"session-{tag}@example.org")
    token = new_opaque_token()
    row = RefreshToken(
        id=uuid.uuid4(),
        user_id=user.id,
        family_id=uuid.uuid4(),
        token_hash=hash_opaque_token(token),
        expires_at=utcnow() + timedelta(days=1),
    )
    await _add(db, tenant, row)
    return Made(token, (f"session-{tag}@example.org", str(user.id)), RefreshToken.__table__, row.id)


async def _chat_room(db: Database, tenant: TenantContext, tag: str) -> ChatRoom:
    creator = await create_user(db, tenant, role="member", email=f"chatter-{tag}@example.org")
    room = ChatRoom(id=uuid.uuid4(), name=f"room {tag}", topic=f"topic {tag}", created_by_id=creator.id)
    await _add(db, tenant, room)
    await _add(db, tenant, ChatRoomMember(room_id=room.id, user_id=creator.id))
    return room


async def make_chat_room(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A chat room (its creator a member)."""
    room = await _chat_room(db, tenant, tag)
    return Made(str(room.id), (f"room {tag}", f"topic {tag}"), ChatRoom.__table__, room.id)


async def make_chat_message(db: Database, tenant: TenantContext, tag: str) -> Made:
    """A message in a chat room."""
    room = await _chat_room(db, tenant, tag)
    message = ChatMessage(id=uuid.uuid4(), room_id=room.id, author_id=room.created_by_id, body=f"said {tag}")
    await _add(db, tenant, message)
    return Made(str(message.id), (f"said {tag}",), ChatMessage.__table__, message.id)


# Path parameters and id fields, by name.
MAKERS: dict[str, Maker] = {
    "item_id": make_item,
    "job_id": make_job,
    "report_id": make_report,
    "upload_id": make_upload,
    "member_id": make_member,
    "invitation_id": make_invitation,
    "role_id": make_role,
    "key_id": make_api_key,
    "role": make_role_name,
    "endpoint_id": make_webhook_endpoint,
    "delivery_id": make_webhook_delivery,
    "room_id": make_chat_room,
    "message_id": make_chat_message,
    "user_id": make_member,  # a room's member (path) or the user to add (body)
}
# Tokens, by route and field: what a token opens depends on the route that takes it.
TOKEN_MAKERS: dict[tuple[str, str], Maker] = {
    ("/api/v1/auth/refresh", "refresh_token"): make_refresh_token,
    ("/api/v1/auth/verify-email", "token"): _link_token(LinkPurpose.VERIFY_EMAIL, verified=False),
    ("/api/v1/auth/reset-password", "token"): _link_token(LinkPurpose.RESET_PASSWORD, verified=True),
    ("/api/v1/invitations/accept", "token"): make_invitation_token,
}


def maker_for(path: str, reference: Reference) -> Maker:
    """How to make the object a reference names; fails for a kind nobody taught this test."""
    if reference.where == BODY and is_token(reference.name):
        maker = TOKEN_MAKERS.get((path, reference.name))
    else:
        maker = MAKERS.get(reference.name)
    assert maker is not None, (
        f"{path} takes a {reference.where} reference `{reference.name}` that this test cannot make in "
        "another tenant: add a maker to MAKERS (or TOKEN_MAKERS) in tests/platform_core/app/"
        "test_cross_tenant_ids.py"
    )
    return maker


# --- the bodies: valid for alpha but for the reference under test -----------------------------------

SAMPLES: dict[str, Callable[[], Any]] = {
    "title": lambda: "Renamed",
    "name": lambda: f"renamed-{uuid.uuid4().hex[:8]}",
    "description": lambda: "Changed",
    "permissions": lambda: ["items:read"],
    "password": lambda: PASSWORD,
    "full_name": lambda: "Someone Else",
    "email": lambda: f"someone-{uuid.uuid4().hex[:8]}@example.org",
    "since": lambda: "2026-01-01T00:00:00Z",
    "user_id": lambda: str(uuid.uuid4()),  # only where the route's other parameter is the one under test
}


def _sample(name: str, annotation: Any) -> Any:
    if name in SAMPLES:
        return SAMPLES[name]()
    kind = _unwrap(annotation)
    if kind is EmailStr:
        return SAMPLES["email"]()
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return next(iter(kind)).value
    for python_type, value in ((bool, True), (int, 1), (str, "x")):
        if isinstance(kind, type) and issubclass(kind, python_type):
            return value
    raise AssertionError(f"no sample value for body field {name!r} ({annotation}): add one to SAMPLES")


def body_for(model: type[BaseModel], values: dict[str, str]) -> dict[str, Any]:
    """A valid body: the references given, samples for required fields (one optional one if none)."""
    body: dict[str, Any] = dict(values)
    fields = {n: f for n, f in model.model_fields.items() if n not in values}
    chosen = [n for n, f in fields.items() if f.is_required()] or list(fields)[:1]
    for name in chosen:
        body[name] = _sample(name, fields[name].annotation)
    try:
        model.model_validate(body)
    except ValidationError as exc:  # the test would prove nothing with a body refused for its form
        raise AssertionError(f"the sample body {body} is not a valid {model.__name__}: {exc}") from exc
    return body


# --- the tests ----------------------------------------------------------------------------------------


def test_the_walk_covers_the_routes_the_app_serves(app):
    """The app serves exactly the routes of ROUTERS (and the console's pages, which their own tests walk),
    and a route outside any host takes no id."""
    declared = {(r.path, frozenset(r.methods)) for r in api_routes([*ROUTERS, *CONSOLE_ROUTERS])}
    served = {(r.path, frozenset(r.methods)) for r in api_routes([app.router])}
    assert served == declared
    for route in api_routes(ROUTERS):
        if not host_kinds(route):
            assert not references(route), f"{route.path} takes ids but is served on no kind of host"
    assert len({(c.method, c.path) for c in CASES}) >= 20  # the walk found the tenant routes with ids


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_another_tenants_object_is_not_found(case, request, app, db, tenant_a, tenant_b, client_a):
    route = _route(app, case)
    if needs_storage(route):
        request.getfixturevalue("s3")
    tag = uuid.uuid4().hex[:10]
    foreign = await maker_for(case.path, case.reference)(db, tenant_b, f"beta-{tag}")
    before = await foreign.row(db, tenant_b)
    values: dict[str, dict[str, str]] = {PATH: {}, BODY: {}}
    for reference in references(route):
        if reference == case.reference:
            values[reference.where][reference.name] = foreign.value
        else:  # every other reference names an object alpha has
            own = await maker_for(case.path, reference)(db, tenant_a, f"alpha-{uuid.uuid4().hex[:10]}")
            values[reference.where][reference.name] = own.value
    url = case.path.format(**values[PATH])
    model = body_model(route)
    assert model is not None or not values[BODY], f"{case}: references in a body that is not JSON"
    body = body_for(model, values[BODY]) if model is not None else None

    response = await client_a.request(case.method, url, json=body)

    if case.reference.where == PATH:
        expected: set[int] = {404}
    elif is_token(case.reference.name):
        expected = set(range(400, 500))
    else:
        expected = {404, 422}
    assert response.status_code in expected, f"{case}: {response.status_code} {response.text}"
    for mark in foreign.marks:
        assert mark not in response.text, f"{case}: the answer shows beta's {mark!r}"
    assert await foreign.row(db, tenant_b) == before, f"{case}: beta's object changed"


MALFORMED = sorted(
    {
        Case(method, route.path, Reference(PATH, name))
        for route in walked_routes()
        for name, annotation in path_param_types(route).items()
        if annotation is uuid.UUID
        for method in route.methods
    },
    key=str,
)


@pytest.mark.parametrize("case", MALFORMED, ids=str)
async def test_a_malformed_id_is_422(case, request, app, db, tenant_a, client_a):
    route = _route(app, case)
    if needs_storage(route):
        request.getfixturevalue("s3")
    values = {name: "not-an-id" for name in path_param_types(route)}
    model = body_model(route)
    response = await client_a.request(
        case.method, case.path.format(**values), json=body_for(model, {}) if model is not None else None
    )
    assert response.status_code == 422, f"{case}: {response.status_code} {response.text}"
