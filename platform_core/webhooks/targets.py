"""Where a webhook may be sent: public addresses only, checked when registered and at every delivery.

A name is resolved once per check and the connection goes to an address that check accepted (never a
second lookup that could answer differently), so a name that resolves to a private address at delivery
time (DNS rebinding) is refused like one that did at registration.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """The URL may not receive webhooks (its message says why)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect, and the host name the request and TLS must carry."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def connect_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        literal = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        """The Host header: the name (and the port when it is not the scheme's)."""
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def refused_reason(address: IPAddress) -> str | None:
    """Why an address may not receive webhooks (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refused_reason(address.ipv4_mapped)
    if isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None:
        return refused_reason(address.sixtofour)
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    for name, hit in checks:
        if hit:
            return (
                f"{address} is a {name} address"
                if name != "not globally routable"
                else f"{address} is {name}"
            )
    return None


def parse(url: str, *, allow_private: bool) -> tuple[str, str, int, str]:
    """Scheme, host, port and path-with-query of a webhook URL; TargetRefused when it cannot be one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from exc
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise TargetRefused("the URL must start with https://")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not carry a user name or password")
    if parts.fragment:
        raise TargetRefused("the URL must not have a fragment (#...)")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def resolve(url: str, *, allow_private: bool) -> Target:
    """Check `url` and resolve its host to an address it may be sent to (TargetRefused otherwise)."""
    scheme, host, port, path = parse(url, allow_private=allow_private)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"the host {host} could not be resolved") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"the host {host} has no address")
    if not allow_private:
        # Every address must be public: a name with one private address among public ones could be
        # steered to it.
        for address in addresses:
            reason = refused_reason(address)
            if reason is not None:
                raise TargetRefused(f"{host} resolves to a forbidden address: {reason}")
    return Target(url=url, scheme=scheme, host=host, port=port, address=str(addresses[0]), path=path)
