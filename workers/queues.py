"""Queues by kind of work, and routing of dotted task names to them."""

from __future__ import annotations

from typing import Any

QUEUES = ("default", "email", "webhooks", "reports", "billing")


def queue_for(task_name: str) -> str:
    """The queue of a task: the first part of its dotted name when that is a queue, else `default`."""
    prefix = task_name.split(".", 1)[0]
    return prefix if prefix in QUEUES else "default"


def route_task(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any
) -> dict[str, str]:
    """Celery router: `email.send` goes to the `email` queue, and so on."""
    return {"queue": queue_for(name)}
