"""Email over SMTP: templates, rendering, message building, sending with retries, and a development sink."""
