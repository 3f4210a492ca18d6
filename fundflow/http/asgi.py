"""The ASGI entry point for uvicorn/gunicorn: ``fundflow.http.asgi:app``."""

from fundflow.http.app import create_app
from fundflow.service import logs
from fundflow.service.config import get_settings

logs.configure(get_settings().log_level)  # one JSON object per line, with the request id
app = create_app()
