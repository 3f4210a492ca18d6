"""The ASGI entry point for uvicorn/gunicorn: ``service.api.asgi:app``."""

import logging

from ..config import get_settings
from .app import create_app

logging.basicConfig(level=get_settings().log_level, format="%(message)s")
app = create_app()
