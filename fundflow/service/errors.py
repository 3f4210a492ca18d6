"""The service's errors and the one table that maps every error to an HTTP status and code.

::

    FundflowError (fundflow.domain.errors)
    ├── DefinitionError, CalendarError      configuration: 500, never caused by a request
    ├── UnknownDefinition                   404 (422 where it is a request field)
    ├── TransitionRefused                   409 with the engine's reason and available triggers
    │   └── AmountRefused                   422: an amount that is not a plain positive amount
    ├── ApportionmentError                  422: the cost cannot be shared as asked
    │   └── LedgerError                     409: the books cannot take the posting
    ├── PeriodError                         422: a report period that cannot be read
    └── ServiceError                        raised by the use cases
        ├── NotAuthenticated                401
        ├── Forbidden                       403
        │   └── CsrfFailed                  403: a page form without a valid CSRF token
        ├── NotFound                        404 (also: another jurisdiction's case)
        ├── Conflict                        409 (lost a race, duplicate)
        │   ├── HandoffRefused              409: a hand-off or record the procedure does not allow now
        │   └── TaskRefused                 409: an assignment, claim or 督办 step not possible now
        ├── PreconditionFailed              412 (If-Match with a stale version)
        ├── PayloadTooLarge                 413
        ├── InvalidInput                    422 (with details, e.g. the bad rows of an import)
        │   └── ImportRejected              422: the household list, every problem by row
        │       └── ImportTooLarge          413: a household file too big to read
        ├── TooManyRequests                 429 (login failures: wait ``detail.retry_after`` s)
        ├── DeliveryFailed                  502: an alert channel did not take a delivery
        ├── DocumentUnavailable             503: a PDF without a CJK font on the server
        ├── BackupError                     500: a backup or restore could not be done
        └── MigrationNotDeclared            404: no migration declared between those versions

``ERRORS`` is the one table: class -> (status, code[, page title]). The API's handler
(``fundflow.http.app``) and the pages' handler (``fundflow.http.web.render``) both answer
through :func:`answer_for` / :func:`error_body`; a test walks the tree and fails on a class
without an entry of its own. The table's code is the class's; an instance may carry a more
specific one (``ServiceError(code=...)``, a refusal's code).

Every error answers JSON ``{code, message, detail}``: ``code`` is a stable English-readable
identifier, ``message`` is Chinese.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fundflow.domain.errors import (
    AmountRefused,
    ApportionmentError,
    CalendarError,
    DefinitionError,
    FundflowError,
    LedgerError,
    PeriodError,
    TransitionRefused,
    UnknownDefinition,
)

__all__ = [
    "ServiceError",
    "NotAuthenticated",
    "Forbidden",
    "CsrfFailed",
    "NotFound",
    "Conflict",
    "TaskRefused",
    "PreconditionFailed",
    "PayloadTooLarge",
    "InvalidInput",
    "TooManyRequests",
    "ImportRejected",
    "ImportTooLarge",
    "DeliveryFailed",
    "DocumentUnavailable",
    "BackupError",
    "MigrationNotDeclared",
    "HandoffRefused",
    "Answer",
    "ERRORS",
    "STATUS",
    "answer_for",
    "status_for",
    "error_body",
    "error_headers",
]

CONFIGURATION_MESSAGE = "服务器配置错误，请联系管理员"


class ServiceError(FundflowError):
    def __init__(self, message: str, *, code: str | None = None, detail: Any = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.code = code if code is not None else answer_for(self).code


class NotAuthenticated(ServiceError):
    pass


class Forbidden(ServiceError):
    pass


class CsrfFailed(Forbidden):
    """A page form POST without a valid CSRF token."""

    def __init__(
        self,
        message: str = "表单校验失败（CSRF），可能是页面已过期或请求并非来自本系统。请返回刷新页面后重试。",
        **kw: Any,
    ):
        super().__init__(message, **kw)


class NotFound(ServiceError):
    pass


class Conflict(ServiceError):
    pass


class HandoffRefused(Conflict):
    """转办, 退回, 延期, 撤回 or a record (objection) that the definition or the case's state does
    not allow now (issue 11b); ``code`` says which rule."""


class TaskRefused(Conflict):
    """An assignment, a claim (签收) or a 督办 step that the case's standing does not allow now
    (the stage has no responsible party, the 督办 is closed...): 409 with the reason."""


class PreconditionFailed(ServiceError):
    pass


class PayloadTooLarge(ServiceError):
    pass


class InvalidInput(ServiceError):
    pass


class TooManyRequests(ServiceError):
    pass


class ImportRejected(InvalidInput, ValueError):
    """The household list was not imported; ``problems`` holds every problem, by row (each with
    ``row``, ``column`` and ``message``: ``household_import.RowProblem``). ``str()`` sums them up
    for a log or a terminal; the answer's ``message`` is the clerk's one line."""

    def __init__(self, problems: Sequence[Any]):
        self.problems = sorted(problems, key=lambda p: p.row)
        listed = [{"row": p.row, "column": p.column, "message": p.message} for p in self.problems]
        super().__init__(self._headline(), detail={"problems": listed})
        rows = {p.row for p in self.problems if p.row}
        scope = f"，涉及 {len(rows)} 行" if rows else ""
        shown = "；".join(map(str, self.problems[:3])) + ("……" if len(self.problems) > 3 else "")
        self.summary = f"住户清单未导入（共 {len(self.problems)} 处问题{scope}）：{shown}"

    def _headline(self) -> str:
        return f"导入失败：{len(self.problems)} 处错误，未导入任何房屋"

    def __str__(self) -> str:
        return self.summary


class ImportTooLarge(ImportRejected, PayloadTooLarge):
    """The file is too big to read (archive size, sheet size): 413, not a list of row problems."""

    def _headline(self) -> str:
        return f"导入失败：{self.problems[0].message}"


class DeliveryFailed(ServiceError):
    """A delivery did not happen; ``reason`` says why (shown in the delivery's status)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class DocumentUnavailable(ServiceError):
    """A generated document that this server cannot make (a PDF without a CJK font)."""


class BackupError(ServiceError):
    """A backup or restore failed as expected: ``code`` is stable English, ``message`` is Chinese."""

    def __init__(self, code: str, message: str):
        super().__init__(message, code=code)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --- version migration (issue 16) ---


class MigrationNotDeclared(ServiceError):
    """No ``<id>.v<N>.migrate.yaml`` declares a migration between the versions asked for."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    code: str
    title: str | None = None  # the page's title, where it is not the status's own


#: error class -> its answer. Looked up along the MRO; a test checks that every class of the
#: tree has an entry of its own.
ERRORS: dict[type[BaseException], Answer] = {
    FundflowError: Answer(500, "internal_error"),
    DefinitionError: Answer(500, "internal_error"),
    CalendarError: Answer(500, "internal_error"),
    UnknownDefinition: Answer(404, "unknown_definition"),
    TransitionRefused: Answer(409, "transition_refused"),
    AmountRefused: Answer(422, "invalid_amount"),
    ApportionmentError: Answer(422, "apportionment_failed"),
    LedgerError: Answer(409, "ledger_refused"),
    PeriodError: Answer(422, "invalid_period"),
    ServiceError: Answer(500, "error"),
    NotAuthenticated: Answer(401, "not_authenticated"),
    Forbidden: Answer(403, "forbidden"),
    CsrfFailed: Answer(403, "csrf_failed", "页面已过期"),
    NotFound: Answer(404, "not_found"),
    Conflict: Answer(409, "conflict"),
    HandoffRefused: Answer(409, "handoff_refused"),
    TaskRefused: Answer(409, "task_refused"),
    PreconditionFailed: Answer(412, "precondition_failed"),
    PayloadTooLarge: Answer(413, "payload_too_large"),
    InvalidInput: Answer(422, "invalid_input"),
    ImportRejected: Answer(422, "import_rejected"),
    ImportTooLarge: Answer(413, "import_too_large"),
    TooManyRequests: Answer(429, "too_many_requests"),
    DeliveryFailed: Answer(502, "delivery_failed"),
    DocumentUnavailable: Answer(503, "document_unavailable"),
    BackupError: Answer(500, "backup_failed"),
    MigrationNotDeclared: Answer(404, "migration_not_declared"),
}

#: error class -> HTTP status, read from ``ERRORS``
STATUS: dict[type[BaseException], int] = {cls: a.status for cls, a in ERRORS.items()}


def answer_for(exc: BaseException | type[BaseException]) -> Answer:
    """The table's answer for an error (or error class): its own entry, else its nearest base's."""
    for cls in (exc if isinstance(exc, type) else type(exc)).__mro__:
        if cls in ERRORS:
            return ERRORS[cls]
    return Answer(500, "internal_error")


def status_for(exc: BaseException) -> int:
    return answer_for(exc).status


def error_body(exc: FundflowError) -> dict[str, Any]:
    """``{code, message, detail}``: what the API answers, and what a page says (``message``)."""
    answer = answer_for(exc)
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
        return {"code": answer.code, "message": str(exc), "detail": {"definition": exc.definition_id}}
    if isinstance(exc, PeriodError):
        return {"code": answer.code, "message": exc.message, "detail": {"field": exc.field}}
    if answer.status < 500:  # a domain error a request caused: its message is for the clerk
        return {"code": answer.code, "message": str(exc), "detail": None}
    return {"code": answer.code, "message": CONFIGURATION_MESSAGE, "detail": None}


def error_headers(exc: FundflowError) -> dict[str, str] | None:
    """Headers that go with the answer: ``Retry-After`` when the error says how long to wait."""
    detail = getattr(exc, "detail", None)
    if answer_for(exc).status == 429 and isinstance(detail, dict) and "retry_after" in detail:
        return {"Retry-After": str(detail["retry_after"])}
    return None
