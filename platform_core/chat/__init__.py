"""Chat: rooms in the tenant's schema, their members, and persisted messages (REST side)."""
