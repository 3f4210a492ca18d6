"""Server-rendered pages for people: Jinja2 templates, htmx (vendored) for partial updates.

``router`` holds the pages (``/``, ``/login``, ``/cases``...); ``STATIC_DIR`` is mounted at
``/static``. The pages call the same use cases as the API (``fundflow/service/usecases``).
"""

from pathlib import Path

from fundflow.http.web.pages import router

__all__ = ["router", "STATIC_DIR"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
