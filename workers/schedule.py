"""The beat schedule. Periodic work that concerns tenants fans out (see workers.fanout).

Tasks are named, not imported: the domains that own them sit above the work queue.
"""

from __future__ import annotations

from typing import Any

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "outbox-sweep": {"task": "maintenance.outbox_sweep", "schedule": 30.0},
    "schema-pool-top-up": {"task": "maintenance.top_up_schema_pool", "schedule": 30.0},
    "outbox-cleanup": {"task": "maintenance.cleanup_outbox", "schedule": 3600.0},
    "job-cleanup": {"task": "maintenance.fan_out_job_cleanup", "schedule": 24 * 3600.0},
    "report-cleanup": {"task": "reports.fan_out_cleanup", "schedule": 24 * 3600.0},
    "upload-cleanup": {"task": "uploads.fan_out_cleanup", "schedule": 24 * 3600.0},
    "webhook-event-prune": {"task": "webhooks.fan_out_prune", "schedule": 24 * 3600.0},
    "billing-reconcile": {"task": "billing.reconcile_subscriptions", "schedule": 24 * 3600.0},
}
