"""The ASGI entry point for uvicorn: `platform_core.asgi:app`."""

from platform_core.log import configure_logging
from platform_core.main import create_app
from platform_core.settings import get_settings

configure_logging(get_settings().log_level, get_settings().log_format)
app = create_app()
