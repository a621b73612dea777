"""`platformctl operators ...`: the accounts that use the operator API on the reserved admin host."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from platform_core.cli.common import console, database, fmt
from platform_core.operators import service as operator_service
from platform_core.operators.models import Operator

app = typer.Typer(help="Create and manage platform operators.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@contextmanager
def transaction() -> Iterator[Session]:
    """A public-schema session for one command, committed when the command succeeds."""
    with database() as db, db.sync_session() as session, session.begin():
        yield session


def _describe(operator: Operator) -> dict[str, str | bool]:
    return {
        "id": str(operator.id),
        "email": operator.email,
        "full_name": operator.full_name,
        "is_active": operator.is_active,
        "last_login_at": fmt(operator.last_login_at),
        "created_at": fmt(operator.created_at),
    }


@app.command("create")
def create(
    email: str,
    password: Annotated[
        str,
        typer.Option(
            envvar="OPERATOR_PASSWORD",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="The password, for scripts (prefer the OPERATOR_PASSWORD variable to the flag); "
            "asked twice when not given.",
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="The operator's full name.")] = "",
) -> None:
    """Create an operator account (10 to 128 character password)."""
    with transaction() as session:
        operator = operator_service.create_operator(session, email=email, password=password, full_name=name)
        operator_id, address = operator.id, operator.email
    console.print(f"created operator {address} ({operator_id})")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List operator accounts."""
    with transaction() as session:
        operators = [_describe(o) for o in operator_service.list_operators(session)]
    if as_json:
        console.print_json(json.dumps(operators))
        return
    table = Table("email", "name", "active", "last login", "created")
    for o in operators:
        table.add_row(
            str(o["email"]),
            str(o["full_name"]),
            "yes" if o["is_active"] else "no",
            str(o["last_login_at"]),
            str(o["created_at"]),
        )
    console.print(table)


@app.command("deactivate")
def deactivate(email: str) -> None:
    """Deactivate an operator: their tokens stop working at once and they cannot sign in."""
    with transaction() as session:
        address = operator_service.set_active(session, email=email, active=False).email
    console.print(f"deactivated {address}")


@app.command("activate")
def activate(email: str) -> None:
    """Let a deactivated operator sign in again."""
    with transaction() as session:
        address = operator_service.set_active(session, email=email, active=True).email
    console.print(f"activated {address}")
