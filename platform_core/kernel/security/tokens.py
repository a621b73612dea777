"""Access tokens (JWT, PyJWT) bound to one tenant, and opaque refresh tokens stored hashed.

Access tokens are HS256 with a key id (`kid`) header: several verification keys are accepted so that
keys can be rotated (sign with the first, keep the old ones until their tokens expire). The algorithm
is pinned on decode; the audience names the tenant, so a token issued for tenant A is refused on B.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt

from platform_core.kernel.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "platform"


class InvalidToken(Unauthorized):
    """The token is missing, malformed, forged, expired or not for this audience."""

    code = "invalid_token"
    message = "The access token is invalid or expired."


@dataclass(frozen=True)
class SigningKeys:
    """Keys by id; the first one signs, all verify."""

    keys: dict[str, bytes]
    current: str

    @classmethod
    def parse(cls, spec: str) -> SigningKeys:
        """Read `kid1:secret1,kid2:secret2`; each secret must have 32+ characters."""
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            kid, sep, secret = part.partition(":")
            if not sep or not kid or len(secret) < 32:
                raise ValueError("signing keys are `kid:secret` pairs with secrets of 32+ characters")
            keys[kid] = secret.encode()
            order.append(kid)
        if not keys:
            raise ValueError("at least one signing key is needed")
        return cls(keys=keys, current=order[0])


def tenant_audience(tenant_id: uuid.UUID | str) -> str:
    """The audience of tokens valid on one tenant's host."""
    return f"tenant:{tenant_id}"


@dataclass(frozen=True)
class AccessClaims:
    """What a valid access token says."""

    subject: str
    audience: str
    token_id: str
    issued_at: int
    expires_at: int
    extra: dict[str, Any]


def issue_access_token(
    keys: SigningKeys,
    *,
    subject: str,
    audience: str,
    ttl_seconds: int = 900,
    now: float | None = None,
    **extra: Any,
) -> str:
    """Sign a short-lived access token for `subject` valid for `audience`."""
    issued = int(now if now is not None else time.time())
    claims = {
        **extra,
        "sub": subject,
        "aud": audience,
        "iss": ISSUER,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, keys.keys[keys.current], algorithm=ALGORITHM, headers={"kid": keys.current})


def decode_access_token(keys: SigningKeys, token: str, *, audience: str, leeway: int = 10) -> AccessClaims:
    """Verify signature, algorithm, expiry, issuer and audience; InvalidToken on any failure."""
    try:
        header = jwt.get_unverified_header(token)
        key = keys.keys.get(str(header.get("kid")))
        if key is None or header.get("alg") != ALGORITHM:
            raise InvalidToken
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=ISSUER,
            leeway=leeway,
            options={"require": ["sub", "aud", "iss", "iat", "exp", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken from exc
    known = {"sub", "aud", "iss", "iat", "exp", "jti"}
    return AccessClaims(
        subject=str(claims["sub"]),
        audience=str(claims["aud"]),
        token_id=str(claims["jti"]),
        issued_at=int(claims["iat"]),
        expires_at=int(claims["exp"]),
        extra={k: v for k, v in claims.items() if k not in known},
    )


class VerifiedTokenCache:
    """Access tokens already verified, so a client's next request skips the signature check.

    Parsing and verifying a JWT with PyJWT costs more CPU than the database query that follows it
    (bench/auth_overhead.py). A cached token is accepted only with the very same SigningKeys object
    (rotating keys replaces the object, so tokens of a removed key are verified again and refused),
    the same audience, and only until it expires. Bounded: least recently used entries go first.
    """

    def __init__(self, max_entries: int = 10_000, leeway: int = 10) -> None:
        self._entries: OrderedDict[tuple[str, str], tuple[SigningKeys, AccessClaims]] = OrderedDict()
        self.max_entries = max_entries
        self.leeway = leeway

    def decode(self, keys: SigningKeys, token: str, *, audience: str) -> AccessClaims:
        """decode_access_token, remembered per token; InvalidToken once it has expired."""
        key = (audience, token)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is keys:
            self._entries.move_to_end(key)
            claims = entry[1]
            if claims.expires_at + self.leeway <= time.time():
                del self._entries[key]
                raise InvalidToken
            return claims
        claims = decode_access_token(keys, token, audience=audience, leeway=self.leeway)
        self._entries[key] = (keys, claims)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return claims

    def clear(self) -> None:
        """Forget every verified token."""
        self._entries.clear()


def new_opaque_token() -> str:
    """A random token for refresh, invitation, verification and reset links (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_opaque_token(token: str) -> str:
    """What is stored instead of an opaque token: its SHA-256 (the token has full entropy)."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(token: str, stored_hash: str) -> bool:
    """Compare a presented token with a stored hash in constant time."""
    return hmac.compare_digest(hash_opaque_token(token), stored_hash)
