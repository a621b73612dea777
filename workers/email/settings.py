"""Settings of outgoing email (prefix SMTP_)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workers.email.addresses import parse_addresses
from workers.email.exceptions import InvalidRecipient


class TlsMode(StrEnum):
    """How the SMTP connection is protected."""

    NONE = "none"  # plain text: a local relay or the development sink only
    STARTTLS = "starttls"  # upgrade a plain connection (usually port 587)
    SSL = "ssl"  # TLS from the first byte (usually port 465)


class EmailSettings(BaseSettings):
    """The SMTP relay, the sender address and the retry policy of the email task."""

    model_config = SettingsConfigDict(env_prefix="SMTP_", env_file=".env", extra="ignore")

    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    username: str = ""  # empty: no AUTH
    password: SecretStr = SecretStr("")
    tls: TlsMode = TlsMode.NONE
    from_address: str = "Platform <no-reply@localhost>"
    timeout: float = Field(default=10.0, gt=0)  # seconds, per socket operation
    max_retries: int = Field(default=8, ge=0)
    retry_backoff_seconds: float = Field(default=30.0, gt=0)
    retry_backoff_max_seconds: float = Field(default=3600.0, gt=0)

    @field_validator("tls", mode="before")
    @classmethod
    def _lower_tls(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("from_address")
    @classmethod
    def _valid_from(cls, value: str) -> str:
        try:
            single = len(parse_addresses(value)) == 1
        except InvalidRecipient as exc:
            raise ValueError(str(exc)) from exc
        if not single:
            raise ValueError("SMTP_FROM_ADDRESS must be one address, e.g. 'Platform <no-reply@example.com>'")
        return value

    @model_validator(mode="after")
    def _backoff_cap(self) -> EmailSettings:
        if self.retry_backoff_max_seconds < self.retry_backoff_seconds:
            raise ValueError("SMTP_RETRY_BACKOFF_MAX_SECONDS must not be below SMTP_RETRY_BACKOFF_SECONDS")
        return self


@lru_cache
def get_email_settings() -> EmailSettings:
    """Process-wide email settings."""
    return EmailSettings()
