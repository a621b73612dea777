"""Slug and host name validation."""

from __future__ import annotations

import pytest

from tenants.exceptions import InvalidDomain, InvalidSlug
from tenants.slugs import normalise_domain, validate_slug

RESERVED = frozenset({"www", "api", "admin"})


@pytest.mark.parametrize("slug", ["acme", "a1b", "my-team", "x" * 63, "123"])
def test_valid_slugs(slug):
    assert validate_slug(slug, RESERVED) == slug


@pytest.mark.parametrize(
    "slug",
    [
        "ab",
        "x" * 64,
        "Acme",
        "-acme",
        "acme-",
        "ac_me",
        "ac.me",
        "acmé",
        "",
        "xn--acme",
        "ac me",
        "www",
        "api",
    ],
)
def test_invalid_slugs(slug):
    with pytest.raises(InvalidSlug) as excinfo:
        validate_slug(slug, RESERVED)
    assert excinfo.value.status_code == 422


@pytest.mark.parametrize(("raw", "expected"), [("Shop.Acme.COM.", "shop.acme.com"), (" acme.io ", "acme.io")])
def test_domains_normalised(raw, expected):
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize("raw", ["localhost", "acme..com", "-a.com", "a_b.com", "x" * 64 + ".com"])
def test_invalid_domains(raw):
    with pytest.raises(InvalidDomain):
        normalise_domain(raw)
