"""Database kernel: declarative bases, engines, tenant-bound sessions."""
