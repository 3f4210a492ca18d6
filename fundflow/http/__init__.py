"""HTTP: the JSON API (``api``), the Chinese pages (``web``), and what both share (``deps``,
``middleware``); ``app.create_app`` mounts them, ``asgi.app`` is what uvicorn serves."""
