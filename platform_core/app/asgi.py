"""The ASGI entry point for uvicorn: `platform_core.app.asgi:app`."""

from platform_core.app.main import create_app
from platform_core.kernel.log import configure_logging
from platform_core.kernel.settings import get_settings

configure_logging(get_settings().log_level, get_settings().log_format)
app = create_app()
