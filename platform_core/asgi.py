"""The ASGI entry point for uvicorn: `platform_core.asgi:app`."""

from platform_core.main import create_app

app = create_app()
