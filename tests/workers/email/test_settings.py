"""Email settings come from SMTP_ variables and refuse values that cannot work."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from workers.email.settings import EmailSettings, TlsMode, get_email_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "USERNAME", "PASSWORD", "TLS", "FROM_ADDRESS", "TIMEOUT", "MAX_RETRIES"):
        monkeypatch.delenv(f"SMTP_{name}", raising=False)


def test_defaults() -> None:
    settings = EmailSettings(_env_file=None)

    assert (settings.host, settings.port, settings.tls) == ("localhost", 25, TlsMode.NONE)
    assert settings.username == ""
    assert settings.from_address == "Platform <no-reply@localhost>"
    assert (settings.timeout, settings.max_retries) == (10, 8)
    assert (settings.retry_backoff_seconds, settings.retry_backoff_max_seconds) == (30, 3600)


def test_read_from_smtp_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("SMTP_PORT", "587")
    monkeypatch.setenv("SMTP_TLS", "STARTTLS")
    monkeypatch.setenv("SMTP_USERNAME", "mailer")
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")

    settings = EmailSettings(_env_file=None)

    assert (settings.host, settings.port, settings.tls) == ("smtp.example.com", 587, TlsMode.STARTTLS)
    assert settings.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    "values",
    [
        {"tls": "tls"},
        {"port": 0},
        {"from_address": "not an address"},
        {"from_address": "a@example.com, b@example.com"},
        {"retry_backoff_seconds": 60, "retry_backoff_max_seconds": 30},
    ],
)
def test_invalid_values_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EmailSettings(_env_file=None, **values)


def test_getter_is_cached() -> None:
    assert get_email_settings() is get_email_settings()
