"""The operator console: pages on the reserved operator host for the platform's operators."""
