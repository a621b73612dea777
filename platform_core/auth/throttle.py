"""Sign-in throttling in Redis, so every API process counts the same attempts (the `limits` library).

Two limits: attempts per client IP (every attempt counts), and failed attempts per account, keyed by
tenant and email whether or not the account exists (so a 429 reveals nothing about accounts).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from platform_core.access.dependencies import ApiRateLimited
from platform_core.kernel.errors import RateLimited
from platform_core.kernel.settings import Settings


class TooManyAttempts(RateLimited):
    """Too many attempts; the Retry-After header says when to try again."""

    code = "too_many_attempts"


def _storage_uri(redis_url: str) -> str:
    return redis_url if redis_url.startswith("async+") else f"async+{redis_url}"


class Throttle:
    """Counters in Redis for sign-in and emailed-link requests, and the plans' API-key rates (the
    access layer's ApiRateLimiter)."""

    def __init__(self, settings: Settings) -> None:
        self._storage = RedisStorage(_storage_uri(settings.redis_url), implementation="redispy")
        self._limiter = FixedWindowRateLimiter(self._storage)
        self.per_ip: RateLimitItem = parse(settings.login_limit_per_ip)
        self.per_account: RateLimitItem = parse(settings.login_limit_per_account)
        self.email_links: RateLimitItem = parse(settings.email_link_limit_per_account)
        # A moving window for API use, so a burst at a window boundary cannot double the plan's rate.
        self._api_limiter = MovingWindowRateLimiter(self._storage)
        self._plan_limits: dict[str, RateLimitItem] = {}

    async def _refuse(self, item: RateLimitItem, *keys: str) -> None:
        reset_time, _ = await self._limiter.get_window_stats(item, *keys)
        retry_after = max(1, math.ceil(reset_time - time.time()))
        raise TooManyAttempts(
            f"Too many attempts. Try again in {retry_after} seconds.",
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )

    async def sign_in_attempt(self, *, scope: str, ip: str | None, account: str) -> None:
        """Count an attempt from `ip` and against the account before the password is checked, so
        parallel guesses count too; refuse it when either is over its limit."""
        if ip and not await self._limiter.hit(self.per_ip, "sign-in-ip", ip):
            await self._refuse(self.per_ip, "sign-in-ip", ip)
        if not await self._limiter.hit(self.per_account, "sign-in-account", scope, account):
            await self._refuse(self.per_account, "sign-in-account", scope, account)

    async def sign_in_succeeded(self, *, scope: str, account: str) -> None:
        """Forget the account's failures once its owner signs in."""
        await self._limiter.clear(self.per_account, "sign-in-account", scope, account)

    async def api_request(self, *, tenant: str, limit: str) -> None:
        """Count one API-key request against the tenant's plan limit; 429 naming it when over."""
        item = self._plan_limits.get(limit)
        if item is None:
            item = self._plan_limits[limit] = parse(limit)
        if not await self._api_limiter.hit(item, "api", tenant):
            reset_time, _ = await self._api_limiter.get_window_stats(item, "api", tenant)
            retry_after = max(1, math.ceil(reset_time - time.time()))
            raise ApiRateLimited(
                f"The plan allows {limit} API requests; try again in {retry_after} seconds.",
                details={"limit": limit, "retry_after": retry_after},
                headers={"Retry-After": str(retry_after)},
            )

    async def email_link_request(self, *, scope: str, ip: str | None, account: str, purpose: str) -> bool:
        """Count a request for an emailed link: 429 when its IP is over the sign-in per-IP limit (that
        says nothing about the account); then whether a link may go to `account` (silently False)."""
        if ip and not await self._limiter.hit(self.per_ip, "email-link-ip", ip):
            await self._refuse(self.per_ip, "email-link-ip", ip)
        return await self.email_link(scope=scope, account=account, purpose=purpose)

    async def email_link(self, *, scope: str, account: str, purpose: str) -> bool:
        """Whether another emailed link of `purpose` may go to `account` now (and count it)."""
        return await self._limiter.hit(self.email_links, f"email-{purpose}", scope, account)
