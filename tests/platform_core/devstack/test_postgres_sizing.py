"""The local PostgreSQL for development and benchmarks is sized like a server of its own."""

from __future__ import annotations

import psycopg

from platform_core.devstack.postgres import shared_buffers_mb, start_postgres, stop_postgres
from platform_core.kernel.settings import to_libpq_url


def test_a_development_server_gets_a_quarter_of_the_memory_for_shared_buffers(tmp_path):
    data = tmp_path / "postgres"
    service = start_postgres(data)
    try:
        with psycopg.connect(to_libpq_url(service.url)) as conn:
            shown = conn.execute(
                "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'"
            )
            assert shown.fetchone() == (shared_buffers_mb(),)
    finally:
        stop_postgres(data)
    assert 128 <= shared_buffers_mb() <= 2048
