"""The JSON API (``/api/v1``): ``routes.router``; the app that mounts it is ``fundflow.http.app``."""
