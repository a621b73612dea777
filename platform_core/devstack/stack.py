"""LocalStack: start the local services that are not configured, stop them again on exit."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Self

from platform_core.devstack import _process as proc_
from platform_core.devstack._common import RunningService
from platform_core.devstack.postgres import DEFAULT_DEV_PORT as POSTGRES_DEV_PORT
from platform_core.devstack.postgres import start_postgres, stop_postgres
from platform_core.devstack.redis import DEFAULT_DEV_PORT as REDIS_DEV_PORT
from platform_core.devstack.redis import start_redis, stop_redis


class LocalStack:
    """Start what is not configured, stop on exit; a context manager.

    Data lives in root/<tag>/postgres and root/<tag>/redis and is reused by the next run. Tag "dev"
    prefers the ports given in `preferred_ports` ("postgres", "redis": the previous run's), else the
    stable 54329 and 63799; tag "test" uses free ports and fast, disposable settings. Processes
    sharing a root and tag share the servers: each start is counted, and the last process to stop
    (or to exit, if it crashed) stops them; see stop_all.
    """

    def __init__(
        self,
        root: Path,
        *,
        database_url: str | None,
        redis_url: str | None,
        tag: str = "dev",
        preferred_ports: dict[str, int] | None = None,
    ) -> None:
        """Remember the configuration; start nothing yet."""
        self.root = Path(root).resolve()
        self.tag = tag
        self._preferred_ports = preferred_ports or {}
        self._want_postgres = database_url is None
        self._want_redis = redis_url is None
        self.database_url: str = database_url or ""  # set by __enter__ when started here
        self.redis_url: str = redis_url or ""
        self.started: list[RunningService] = []
        self._active: list[tuple[RunningService, Path]] = []

    def _prepare(self) -> Path:
        base = self.root / self.tag
        base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # The servers run as an unprivileged user (see _process.service_account), which needs to
            # traverse root and root/<tag>. Nothing above root is changed.
            proc_.make_traversable(self.root)
            proc_.make_traversable(base)
        return base

    def _preferred(self, service: str, default: int) -> int | None:
        if self.tag != "dev":
            return None  # tests take any free port
        return self._preferred_ports.get(service, default)  # stable dev URLs

    def start(self) -> Self:
        """Start PostgreSQL and/or Redis where no URL was configured; on failure stop what started."""
        disposable = self.tag == "test"
        if not self._active:
            self.started = []
        if not (self._want_postgres or self._want_redis):
            return self  # everything is configured: touch nothing
        try:
            base = self._prepare()
            if self._want_postgres and not self.database_url:
                data = base / "postgres"
                pg = start_postgres(
                    data, preferred_port=self._preferred("postgres", POSTGRES_DEV_PORT), disposable=disposable
                )
                self._active.append((pg, data))
                self.started.append(pg)
                self.database_url = pg.url
            if self._want_redis and not self.redis_url:
                data = base / "redis"
                preferred = self._preferred("redis", REDIS_DEV_PORT)
                rd = start_redis(data, preferred_port=preferred, disposable=disposable)
                self._active.append((rd, data))
                self.started.append(rd)
                self.redis_url = rd.url
        except BaseException:
            self.stop_all()
            raise
        return self

    def stop_all(self) -> None:
        """Stop what this stack started, once (idempotent; safe to call from a signal handler).

        A server another live process also uses keeps running until that process stops it too.
        """
        errors: list[Exception] = []
        while self._active:
            service, data = self._active.pop()  # pop first: a re-entrant call skips this one
            try:
                if service.name == "postgres":
                    self.database_url = ""
                    stop_postgres(data)
                else:
                    self.redis_url = ""
                    stop_redis(data)
            except Exception as exc:  # still stop the others
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> Self:
        """Start the services that are not configured."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop exactly what __enter__ started."""
        self.stop_all()
