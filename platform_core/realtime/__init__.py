"""Realtime: WebSocket connections of a tenant's users, fed from the channels' Redis streams."""
