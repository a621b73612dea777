"""The tenant console: the pages on a tenant's host."""
