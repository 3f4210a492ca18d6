"""The ASGI entry point for uvicorn/gunicorn: ``fundflow.http.asgi:app``."""

import logging

from fundflow.http.app import create_app
from fundflow.service.config import get_settings

logging.basicConfig(level=get_settings().log_level, format="%(message)s")
# The request log says what happened; the libraries' own INFO lines would double it.
for noisy in ("transitions", "alembic"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
app = create_app()
