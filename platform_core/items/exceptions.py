"""Item errors."""

from __future__ import annotations

from platform_core.kernel.errors import NotFound


class ItemNotFound(NotFound):
    """No such item in this tenant."""

    code = "item_not_found"
    message = "Item not found."
