"""Structured JSON logs carrying the request id and tenant of the current context."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from platform_core.context import request_id_var, tenant_id_var, tenant_slug_var


class ContextFilter(logging.Filter):
    """Copy the request id and tenant from contextvars onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach context fields; never drops a record."""
        record.request_id = request_id_var.get()
        record.tenant = tenant_slug_var.get()
        record.tenant_id = tenant_id_var.get()
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route all logs to stdout, as JSON (production) or readable text (console)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(tenant)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s %(tenant)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
