"""The service's errors and the one table that maps every error to an HTTP status.

::

    FundflowError (workflow.errors)
    ├── DefinitionError, CalendarError      configuration: 500, never caused by a request
    ├── UnknownDefinition                   404 (422 where it is a request field)
    ├── TransitionRefused                   409 with the engine's reason and available triggers
    │   └── AmountRefused                   422: an amount that is not a plain positive amount
    └── ServiceError                        raised by the use cases
        ├── NotAuthenticated                401
        ├── Forbidden                       403
        ├── NotFound                        404 (also: another jurisdiction's case)
        ├── Conflict                        409 (lost a race, duplicate)
        ├── PreconditionFailed              412 (If-Match with a stale version)
        ├── PayloadTooLarge                 413
        ├── InvalidInput                    422 (with details, e.g. the bad rows of an import)
        └── TooManyRequests                 429 (login failures: wait ``detail.retry_after`` s)

Every error answers JSON ``{code, message, detail}``: ``code`` is a stable English-readable
identifier, ``message`` is Chinese.
"""

from __future__ import annotations

from typing import Any

from fundflow.domain.errors import (
    AmountRefused,
    CalendarError,
    DefinitionError,
    FundflowError,
    TransitionRefused,
    UnknownDefinition,
)

__all__ = [
    "ServiceError",
    "NotAuthenticated",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PreconditionFailed",
    "PayloadTooLarge",
    "InvalidInput",
    "TooManyRequests",
    "STATUS",
    "status_for",
    "error_body",
]


class ServiceError(FundflowError):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, detail: Any = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        if code is not None:
            self.code = code


class NotAuthenticated(ServiceError):
    code = "not_authenticated"


class Forbidden(ServiceError):
    code = "forbidden"


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    code = "conflict"


class PreconditionFailed(ServiceError):
    code = "precondition_failed"


class PayloadTooLarge(ServiceError):
    code = "payload_too_large"


class InvalidInput(ServiceError):
    code = "invalid_input"


class TooManyRequests(ServiceError):
    code = "too_many_requests"


#: error class -> HTTP status. Looked up along the MRO; a test checks every class is here.
STATUS: dict[type[BaseException], int] = {
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    UnknownDefinition: 404,
    Conflict: 409,
    TransitionRefused: 409,
    AmountRefused: 422,
    PreconditionFailed: 412,
    PayloadTooLarge: 413,
    InvalidInput: 422,
    TooManyRequests: 429,
    DefinitionError: 500,
    CalendarError: 500,
    ServiceError: 500,
    FundflowError: 500,
}


def status_for(exc: BaseException) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(exc: FundflowError) -> dict[str, Any]:
    if isinstance(exc, TransitionRefused):
        r = exc.refusal
        return {
            "code": r.code.value,
            "message": r.message,
            "detail": {
                "trigger": r.trigger,
                "state": r.state,
                "available": list(r.available),
                "field": r.field,
                "guard": r.guard,
                **({"found": dict(r.detail)} if r.detail else {}),
            },
        }
    if isinstance(exc, ServiceError):
        return {"code": exc.code, "message": exc.message, "detail": exc.detail}
    if isinstance(exc, UnknownDefinition):
        return {"code": "unknown_definition", "message": str(exc), "detail": {"definition": exc.definition_id}}
    return {"code": "internal_error", "message": "服务器配置错误，请联系管理员", "detail": None}
