"""Access tokens: signature, pinned algorithm, expiry, audience per tenant, key rotation."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest

from platform_core.kernel.security.tokens import (
    InvalidToken,
    SigningKeys,
    decode_access_token,
    hash_opaque_token,
    issue_access_token,
    new_opaque_token,
    same_token,
    tenant_audience,
)

KEYS = SigningKeys.parse("k2:" + "b" * 64 + ",k1:" + "a" * 40)
TENANT_A, TENANT_B = uuid.uuid4(), uuid.uuid4()


def _token(**kwargs) -> str:
    values = {"subject": "user-1", "audience": tenant_audience(TENANT_A)}
    values.update(kwargs)
    return issue_access_token(KEYS, **values)


def test_round_trip_carries_claims():
    claims = decode_access_token(KEYS, _token(tid=str(TENANT_A)), audience=tenant_audience(TENANT_A))
    assert claims.subject == "user-1"
    assert claims.extra == {"tid": str(TENANT_A)}
    assert claims.expires_at - claims.issued_at == 900
    assert jwt.get_unverified_header(_token())["kid"] == "k2"


def test_token_for_tenant_a_is_refused_for_tenant_b():
    with pytest.raises(InvalidToken) as excinfo:
        decode_access_token(KEYS, _token(), audience=tenant_audience(TENANT_B))
    assert excinfo.value.status_code == 401


def test_expired_token_is_refused():
    old = _token(now=time.time() - 3600)
    with pytest.raises(InvalidToken):
        decode_access_token(KEYS, old, audience=tenant_audience(TENANT_A))


def test_forged_signature_is_refused():
    header, payload, signature = _token().split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["sub"] = "admin"
    body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        decode_access_token(KEYS, f"{header}.{body}.{signature}", audience=tenant_audience(TENANT_A))


def test_alg_none_is_refused():
    unsigned = jwt.encode(
        {
            "sub": "user-1",
            "aud": tenant_audience(TENANT_A),
            "iss": "platform",
            "iat": 1,
            "exp": 2**40,
            "jti": "x",
        },
        key=None,
        algorithm="none",
        headers={"kid": "k2"},
    )
    with pytest.raises(InvalidToken):
        decode_access_token(KEYS, unsigned, audience=tenant_audience(TENANT_A))


def test_other_algorithm_with_a_known_key_is_refused():
    token = jwt.encode(
        {"sub": "u", "aud": tenant_audience(TENANT_A), "iss": "platform", "iat": 1, "exp": 2**40, "jti": "x"},
        "b" * 64,
        algorithm="HS512",
        headers={"kid": "k2"},
    )
    with pytest.raises(InvalidToken):
        decode_access_token(KEYS, token, audience=tenant_audience(TENANT_A))


def test_rotation_old_key_still_verifies_unknown_key_does_not():
    old_keys = SigningKeys.parse("k1:" + "a" * 40)
    issued_before_rotation = issue_access_token(old_keys, subject="u", audience=tenant_audience(TENANT_A))
    assert (
        decode_access_token(KEYS, issued_before_rotation, audience=tenant_audience(TENANT_A)).subject == "u"
    )
    retired = SigningKeys.parse("k2:" + "b" * 64)
    with pytest.raises(InvalidToken):
        decode_access_token(retired, issued_before_rotation, audience=tenant_audience(TENANT_A))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x"])
def test_garbage_is_refused(garbage):
    with pytest.raises(InvalidToken):
        decode_access_token(KEYS, garbage, audience=tenant_audience(TENANT_A))


@pytest.mark.parametrize("spec", ["", "nokey", "k1:short", ":" + "a" * 40])
def test_bad_key_specs_are_refused(spec):
    with pytest.raises(ValueError, match="key"):
        SigningKeys.parse(spec)


def test_opaque_tokens_are_random_and_stored_hashed():
    token = new_opaque_token()
    assert len(token) >= 43
    assert token != new_opaque_token()
    stored = hash_opaque_token(token)
    assert token not in stored
    assert same_token(token, stored)
    assert not same_token(token + "x", stored)
