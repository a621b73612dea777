"""The web console: server-rendered pages for tenant users (on their tenant's host) and for operators
(on the operator host). Pages call the same services and gates as the API; nothing here has SQL."""
