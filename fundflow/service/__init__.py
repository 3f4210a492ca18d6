"""fundflow as a running service: storage, use cases, API, scheduler and pages.

Nothing happens at import time: engines, sessions and the app are built by factories.
"""
