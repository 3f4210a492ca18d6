"""The one logging configuration: every line is one JSON object carrying the request id.

``configure(level)`` installs it (the ASGI entry point and the CLI's ``serve`` call it;
uvicorn gets :func:`dict_config` as its ``log_config``, so its access and error lines go
through the same formatter, in every worker process). A line looks like::

    {"time": "2026-11-26T02:30:00.123Z", "level": "info", "logger": "fundflow.transitions",
     "request_id": "3f2a9c...", "event": "transition", "case_id": 7, ...}

- ``request_id`` comes from :data:`REQUEST_ID`, which the HTTP middleware sets for the
  request (``None`` outside one: start-up, the scheduler, the CLI).
- :func:`event` logs a structured line: its message is the JSON object itself (so a test's
  ``caplog`` and any handler see it whole); the formatter merges it into the line.
- A plain message becomes ``"message"``; uvicorn's access line also gets its parts
  (``client``, ``method``, ``path``, ``http_version``, ``status``); an exception ``"exception"``.
"""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = ["REQUEST_ID", "JsonFormatter", "configure", "dict_config", "event", "current_request_id"]

#: the id of the request being answered (set by ``fundflow.http.middleware``)
REQUEST_ID: ContextVar[str | None] = ContextVar("fundflow_request_id", default=None)

#: loggers whose own INFO lines would repeat what the request and transition lines say
QUIET = ("transitions", "alembic")
_BASE = ("time", "level", "logger", "request_id")
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}
_ACCESS_PARTS = ("client", "method", "path", "http_version", "status")


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def event(logger: logging.Logger, name: str, /, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured line ``{"event": name, "request_id": ..., **fields}``."""
    if logger.isEnabledFor(level):
        line = {"event": name, "request_id": current_request_id(), **fields}
        logger.log(level, json.dumps(line, ensure_ascii=False, default=str))


def _json_object(message: str) -> dict[str, Any] | None:
    if not (message.startswith("{") and message.endswith("}")):
        return None
    try:
        parsed = json.loads(message)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class JsonFormatter(logging.Formatter):
    """Formats every record as one JSON object (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        parsed = _json_object(message)
        if parsed is None:
            line["message"] = message
        else:
            for key, value in parsed.items():
                if key == "request_id":
                    line[key] = value or line[key]
                elif key not in _BASE:
                    line[key] = value
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            line.update(zip(_ACCESS_PARTS, record.args, strict=True))
        for key, value in vars(record).items():  # ``extra={...}``
            if key not in _RECORD_FIELDS and key not in line and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def dict_config(level: str = "INFO", stream: Any = "ext://sys.stderr") -> dict[str, Any]:
    """The configuration for ``logging.config.dictConfig`` and uvicorn's ``log_config``: one
    handler with :class:`JsonFormatter` on the root logger; uvicorn's loggers propagate to it."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream}},
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
            **{name: {"level": "WARNING"} for name in QUIET},
        },
    }


def configure(level: str = "INFO", stream: Any = "ext://sys.stderr") -> None:
    """Install the one configuration (again: the last call wins)."""
    logging.config.dictConfig(dict_config(level, stream))
