"""One delivery attempt over HTTP: to the checked address, signed, bounded in time and in what it reads."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from platform_core.webhooks.targets import Target

USER_AGENT = "platform-webhooks/1"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an attempt came to."""

    status: int | None
    body: str | None
    duration_ms: int
    error: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header in seconds (it is either seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def send(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    max_bytes: int,
    keep_bytes: int,
) -> Outcome:
    """POST `body` to the target's checked address; never follows a redirect, never raises."""
    started = time.monotonic()
    deadline = started + timeout
    request_headers = {
        **headers,
        "host": target.host_header,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
            request = client.build_request(
                "POST", target.connect_url, content=body, headers=request_headers, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                received = bytearray()
                for chunk in response.iter_raw():
                    received.extend(chunk)
                    if len(received) >= max_bytes or time.monotonic() > deadline:
                        break
                text = bytes(received[:keep_bytes]).decode("utf-8", "replace")
                wait = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
                return Outcome(response.status_code, text, _ms(started), retry_after=wait)
            finally:
                response.close()
    except httpx.TimeoutException:
        return Outcome(None, None, _ms(started), error=f"timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return Outcome(None, None, _ms(started), error=f"{type(exc).__name__}: {exc}"[:500])


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
