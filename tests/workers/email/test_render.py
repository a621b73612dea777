"""Email templates: every one renders from its declared context, escaping and strictness hold."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import StrictUndefined, UndefinedError, meta
from markupsafe import escape

from workers.email.exceptions import TemplateContextError, UnknownTemplate
from workers.email.render import TEMPLATE_DIR, TEMPLATES, environment, render_email

SAMPLE: dict[str, Any] = {
    "verify_url": "https://app.example.com/verify?token=v-123&u=1",
    "reset_url": "https://app.example.com/reset?token=r-456",
    "set_password_url": "https://acme.example.com/set-password?token=s-321",
    "accept_url": "https://acme.example.com/invitations/i-789",
    "download_url": "https://files.example.com/reports/r.csv?sig=abc&exp=1",
    "billing_url": "https://acme.example.com/billing",
    "manage_url": "https://acme.example.com/webhooks/e-1",
    "endpoint_address": "https://hooks.acme.example/in",
    "reason": "the endpoint answered 410 Gone",
    "tenant_name": "Acme Corp",
    "inviter_name": "Ada Lovelace",
    "role": "admin",
    "report_name": "Q3 usage",
    "amount": "€49.00",
    "expires_in_hours": 24,
}
URL_VARIABLES = {name for name in SAMPLE if name.endswith("_url")}


def context_for(template: str, **overrides: Any) -> dict[str, Any]:
    return {**{name: SAMPLE[name] for name in TEMPLATES[template]}, **overrides}


@pytest.mark.parametrize("template", sorted(TEMPLATES))
class TestEveryTemplate:
    def test_renders_with_its_declared_context(self, template: str) -> None:
        rendered = render_email(template, context_for(template))

        assert rendered.subject
        assert "\n" not in rendered.subject
        assert rendered.html.startswith("<!doctype html>")
        assert f"<title>{escape(rendered.subject)}</title>" in rendered.html
        assert "<a " not in rendered.text
        assert "<p" not in rendered.text
        for name in TEMPLATES[template]:
            value = str(SAMPLE[name])
            assert value in rendered.text, name
            assert escape(value) in rendered.html, name
        for name in TEMPLATES[template] & URL_VARIABLES:
            assert f'href="{escape(SAMPLE[name])}"' in rendered.html

    def test_declared_variables_are_those_the_templates_use(self, template: str) -> None:
        env = environment()
        used: set[str] = set()
        for suffix in ("txt", "html"):
            source = (TEMPLATE_DIR / f"{template}.{suffix}").read_text()
            used |= meta.find_undeclared_variables(env.parse(source))

        assert used - {"subject"} == TEMPLATES[template]

    def test_a_missing_variable_is_an_error(self, template: str) -> None:
        missing = sorted(TEMPLATES[template])[0]
        context = context_for(template)
        del context[missing]

        with pytest.raises(TemplateContextError, match=missing):
            render_email(template, context)


def test_every_template_file_is_declared() -> None:
    names = {path.stem for path in TEMPLATE_DIR.iterdir() if not path.name.startswith("_")}
    files = {path.name for path in TEMPLATE_DIR.iterdir()}

    assert names == set(TEMPLATES)
    assert all({f"{name}.txt", f"{name}.html"} <= files for name in TEMPLATES)


def test_unknown_template() -> None:
    with pytest.raises(UnknownTemplate, match="no_such_email"):
        render_email("no_such_email", {})


def test_undefined_names_are_errors_not_blanks() -> None:
    assert environment().undefined is StrictUndefined
    with pytest.raises(UndefinedError):
        environment().from_string("Hello {{ nobody }}").render()


def test_user_values_are_escaped_in_html_only() -> None:
    evil = '<script>alert("x")</script>'
    rendered = render_email(
        "invitation", context_for("invitation", tenant_name=evil, inviter_name="Bob & Co")
    )

    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in rendered.html
    assert "Bob &amp; Co" in rendered.html
    assert evil in rendered.text
    assert "Bob & Co" in rendered.text
    assert evil in rendered.subject  # a header, not HTML: it is encoded, not escaped


def test_urls_are_escaped_in_attributes() -> None:
    rendered = render_email("verify_email", context_for("verify_email"))

    assert 'href="https://app.example.com/verify?token=v-123&amp;u=1"' in rendered.html
    assert "https://app.example.com/verify?token=v-123&u=1\n" in rendered.text


def test_subject_is_one_line_whatever_the_values() -> None:
    rendered = render_email(
        "payment_failed", context_for("payment_failed", tenant_name="Acme\r\nBcc: x@evil.test")
    )

    assert rendered.subject == "Payment failed for Acme Bcc: x@evil.test"


def test_hours_are_counted_in_words() -> None:
    one = render_email("password_reset", context_for("password_reset", expires_in_hours=1))
    two = render_email("password_reset", context_for("password_reset", expires_in_hours=2))

    assert "expires in 1 hour." in one.text
    assert "expires in 1 hour." in one.html
    assert "expires in 2 hours." in two.text
    assert "expires in 2 hours." in two.html


def test_context_is_not_modified() -> None:
    context = context_for("report_ready")
    before = dict(context)

    render_email("report_ready", context)

    assert context == before
