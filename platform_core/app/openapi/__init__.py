"""The OpenAPI documents of each kind of host, derived from the routes' dependencies, and /docs."""
