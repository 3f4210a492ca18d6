"""The heap a process builds at start-up, moved out of the cyclic garbage collector's way.

A served process keeps hundreds of thousands of long-lived objects: the definitions and their
compiled machines, SQLAlchemy's metadata and compiled statements, the app's routes and models.
Each full collection walks all of them: measured on a case walked through the use cases, a
pause of about 3 ms every few dozen steps, a tenth of the CPU of a case. ``gc.freeze()`` after
start-up moves them to a permanent generation that collections skip; what is allocated later
is collected as before. Called once a process has built its services (``fundflow serve``'s
workers, ``fundflow scheduler``), not in the library calls that tests make again and again (a
frozen object that later becomes cyclic garbage is never freed)."""

from __future__ import annotations

import gc

__all__ = ["freeze_startup"]


def freeze_startup() -> None:
    gc.collect()
    gc.freeze()
