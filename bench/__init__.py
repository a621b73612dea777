"""Benchmarks: tenancy overhead, provisioning, fleet migrations (`make bench`)."""
