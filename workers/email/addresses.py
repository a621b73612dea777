"""Parse and validate email addresses (syntax only: no DNS), keeping display names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.headerregistry import Address
from email.utils import getaddresses

from email_validator import EmailNotValidError, validate_email

from workers.email.exceptions import InvalidRecipient

# email-validator refuses special-use domains; `.localhost` is where development mail goes (`.test` is
# let through by its test_environment flag), so its domain is checked here and its local part by the library.
_LOCAL_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*localhost$")


def validate_address(address: str) -> str:
    """Return the normalised addr-spec of `address`; InvalidRecipient if its syntax is wrong."""
    local, at, domain = address.strip().rpartition("@")
    try:
        if at and _LOCAL_DOMAIN.match(domain.lower()):
            checked = validate_email(f"{local}@example.com", check_deliverability=False)
            return f"{checked.local_part}@{domain.lower()}"
        return validate_email(address, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as exc:
        raise InvalidRecipient(f"invalid email address {address!r}: {exc}") from exc


def parse_addresses(values: str | Iterable[str]) -> list[Address]:
    """Parse `a@x.com`, `Name <a@x.com>` or comma-separated lists into validated addresses."""
    items = [values] if isinstance(values, str) else list(values)
    if any("\r" in item or "\n" in item for item in items):
        raise InvalidRecipient("email addresses may not contain line breaks")
    addresses = []
    for item in items:
        for name, addr in getaddresses([item]):
            # getaddresses answers ('', '') to what it cannot parse, and drops stray spaces, which would
            # turn `ada@exa mple.com` into another address: only an addr-spec found verbatim is kept.
            if not addr or addr not in item:
                raise InvalidRecipient(f"invalid email address in {item!r}")
            addresses.append(Address(display_name=name, addr_spec=validate_address(addr)))
    return addresses
