"""Render an email from its templates in `templates/`.

Each email NAME has two Jinja2 templates: `NAME.txt` (plain text, not escaped) and `NAME.html`
(autoescaped). The subject is the `{% block subject %}` of `NAME.txt`, squeezed onto one line; the HTML
layout receives it as `subject`. The variables each email needs are declared in `TEMPLATES`: a missing
one is an error before rendering (TemplateContextError), and `StrictUndefined` makes any other unknown
name an error too, never a blank. Extra variables are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape

from workers.email.exceptions import TemplateContextError, UnknownTemplate

TEMPLATE_DIR = Path(__file__).parent / "templates"

# The context variables of each email (all required). Keep in step with the templates: a test checks it.
TEMPLATES: dict[str, frozenset[str]] = {
    "verify_email": frozenset({"verify_url", "expires_in_hours"}),
    "invitation": frozenset({"tenant_name", "inviter_name", "role", "accept_url", "expires_in_hours"}),
    "password_reset": frozenset({"reset_url", "expires_in_hours"}),
    "set_password": frozenset({"tenant_name", "set_password_url", "expires_in_hours"}),
    "report_ready": frozenset({"tenant_name", "report_name", "download_url", "expires_in_hours"}),
    "payment_failed": frozenset({"tenant_name", "amount", "billing_url"}),
    "webhook_disabled": frozenset({"tenant_name", "endpoint_address", "reason", "manage_url"}),
}


@dataclass(frozen=True)
class RenderedEmail:
    """The subject and both bodies of one email."""

    subject: str
    text: str
    html: str


@lru_cache
def environment() -> Environment:
    """Return the Jinja2 environment of the email templates (HTML autoescaped, undefined is an error)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_email(template: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Render the subject, text and HTML of email `template` with `context`."""
    required = TEMPLATES.get(template)
    if required is None:
        raise UnknownTemplate(f"unknown email template {template!r}; known: {', '.join(sorted(TEMPLATES))}")
    missing = sorted(required - context.keys())
    if missing:
        raise TemplateContextError(f"email template {template!r} needs {', '.join(missing)}")
    env = environment()
    try:
        text_template = env.get_template(f"{template}.txt")
        subject_block = text_template.blocks["subject"]
        subject = " ".join("".join(subject_block(text_template.new_context(dict(context)))).split())
        text = text_template.render(context)
        html = env.get_template(f"{template}.html").render({**context, "subject": subject})
    except (TemplateError, KeyError) as exc:  # KeyError: no subject block
        raise TemplateContextError(f"email template {template!r} failed to render: {exc!r}") from exc
    if not subject:
        raise TemplateContextError(f"email template {template!r} has an empty subject")
    return RenderedEmail(subject=subject, text=text, html=html)
