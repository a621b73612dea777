"""Outgoing webhooks: tenants subscribe endpoints to domain events; the workers deliver them signed."""
