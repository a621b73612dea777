"""Validation of tenant slugs and host names."""

from __future__ import annotations

import re

from tenants.exceptions import InvalidDomain, InvalidSlug

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def validate_slug(slug: str, reserved: frozenset[str]) -> str:
    """Return the slug if it is a 3-63 char DNS label that is not reserved; raise InvalidSlug otherwise."""
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise InvalidSlug(
            "A slug is 3-63 characters: lowercase letters, digits and inner hyphens.",
            details={"slug": slug if isinstance(slug, str) else None},
        )
    if slug[2:4] == "--":
        raise InvalidSlug("A slug cannot have hyphens in its third and fourth characters (IDNA).")
    if slug in reserved:
        raise InvalidSlug(f"The slug {slug!r} is reserved.", details={"slug": slug})
    return slug


def is_valid_hostname(host: str) -> bool:
    """Whether `host` is a syntactically valid DNS host name (lowercase ASCII labels)."""
    if not host or len(host) > 253:
        return False
    return all(_LABEL.match(label) for label in host.split("."))


def normalise_domain(domain: str) -> str:
    """Lowercase a custom domain and check it is a valid host name with at least two labels."""
    value = domain.strip().lower().rstrip(".")
    if not is_valid_hostname(value) or "." not in value:
        raise InvalidDomain(f"{domain!r} is not a valid domain name.", details={"domain": domain})
    return value
