"""Server-rendered pages for people: Jinja2 templates, htmx (vendored) for partial updates.

``router`` holds the pages (``/``, ``/login``, ``/cases``...); ``STATIC_DIR`` is mounted at
``/static``. The pages call the same use cases as the API (``service/usecases``).
"""

from pathlib import Path

from .pages import router

__all__ = ["router", "STATIC_DIR"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
