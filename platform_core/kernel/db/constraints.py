"""Named constraints: a service turns the violations it expects into its own errors, by name.

Only the constraints a service names become its 4xx (a concurrent request took the same email, a role
was deleted meanwhile). Any other IntegrityError is a bug (a NOT NULL column left empty, a foreign key
to nothing) and stays an exception: a 500 that Sentry hears about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint (or unique index) PostgreSQL reports as violated."""
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)


@contextmanager
def constraint_errors(errors: Mapping[str, Callable[[], Exception]]) -> Iterator[None]:
    """Raise errors[name]() for a violation of a constraint named here inside the block; re-raise
    any other IntegrityError unchanged."""
    try:
        yield
    except IntegrityError as exc:
        make = errors.get(violated_constraint(exc) or "")
        if make is None:
            raise
        raise make() from exc
