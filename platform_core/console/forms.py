"""Forms: read a posted form into the API's own schema, with a message per invalid field; submit once.

A form is validated by the same Pydantic model as the API's body, so the rules exist once. Errors come
back keyed by field name, for the template to show next to each input with the user's input kept.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
NONCE_FIELD = "form_nonce"
_NONCE_TTL_SECONDS = 3600


@dataclass
class Form(Generic[M]):
    """A posted form: its values as sent, the model when they are valid, the errors per field otherwise."""

    values: dict[str, Any]
    model: M | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """Whether the form passed validation."""
        return self.model is not None and not self.errors

    def error(self, name: str, message: str) -> None:
        """Attach a message to a field (a rule the service enforced, such as a taken name)."""
        self.errors[name] = message
        self.model = None


def _message(error: dict[str, Any]) -> str:
    text = str(error.get("msg", "Invalid value."))
    text = text.removeprefix("Value error, ")
    return text[:1].upper() + text[1:] if text else "Invalid value."


def errors_by_field(exc: ValidationError) -> dict[str, str]:
    """The first message of each field of a validation error (`__all__` for the form as a whole)."""
    found: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        loc = error.get("loc", ())
        name = str(loc[0]) if loc else "__all__"
        found.setdefault(name, _message(dict(error)))
    return found


async def read_form(
    request: Request, model: type[M], *, lists: tuple[str, ...] = (), drop_empty: tuple[str, ...] = ()
) -> Form[M]:
    """Validate the posted form with `model`; `lists` are multi-valued fields, `drop_empty` optional ones."""
    form = await request.form()
    values: dict[str, Any] = {}
    for name in form:
        if name in lists:
            values[name] = [v for v in form.getlist(name) if isinstance(v, str)]
        else:
            value = form.get(name)
            if isinstance(value, str):
                values[name] = value
    data = {k: v for k, v in values.items() if k in model.model_fields}
    for name in drop_empty:
        if data.get(name) in ("", None):
            data.pop(name, None)
    try:
        return Form(values=values, model=model.model_validate(data))
    except ValidationError as exc:
        return Form(values=values, errors=errors_by_field(exc))


def new_nonce() -> str:
    """A fresh one-time token for a form that creates something."""
    return secrets.token_urlsafe(16)


async def claim_submission(request: Request, scope: str) -> bool:
    """Claim the form's nonce; False when the same form was submitted already (a double submit)."""
    form = await request.form()
    nonce = form.get(NONCE_FIELD)
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 64:
        return True  # forms without a nonce are not deduplicated
    redis = request.app.state.redis
    claimed = await redis.set(f"console:form:{scope}:{nonce}", "1", nx=True, ex=_NONCE_TTL_SECONDS)
    return bool(claimed)


async def release_submission(request: Request, scope: str) -> None:
    """Give a claimed nonce back (the submission failed, so the same form may be sent again)."""
    form = await request.form()
    nonce = form.get(NONCE_FIELD)
    if isinstance(nonce, str):
        await request.app.state.redis.delete(f"console:form:{scope}:{nonce}")
