"""Report errors."""

from __future__ import annotations

from platform_core.kernel.errors import NotFound


class ReportNotFound(NotFound):
    """No built report with this id in this tenant."""

    code = "report_not_found"
    message = "Report not found, or not ready yet."
