"""The domain's error tree.

::

    FundflowError                      anything the domain refuses or cannot read
    ├── DefinitionError                a definition file is wrong: a list of Problems,
    │                                  each with file, YAML path and message
    ├── CalendarError                  an override calendar file is wrong (file:path: message)
    ├── UnknownDefinition              no definition with that id (and version)
    ├── TransitionRefused              the engine refused a fire(); carries the Refusal
    │   │                              (code, Chinese message, available triggers)
    │   └── AmountRefused              an amount field is not a plain positive amount
    └── ApportionmentError             a cost cannot be shared as asked (Chinese message)
        └── LedgerError                a ledger operation the books cannot take

The engine's ``fire()`` returns a ``Refusal`` rather than raising; callers that want an
exception (the service's use cases) raise ``TransitionRefused(refusal)``. The service maps
each class here to one HTTP status and code in one table (``fundflow.service.errors.ERRORS``),
and a test fails when a class is unmapped.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FundflowError",
    "DefinitionError",
    "CalendarError",
    "UnknownDefinition",
    "TransitionRefused",
    "AmountRefused",
    "ApportionmentError",
    "LedgerError",
    "refused",
    "Problem",
    "Severity",
    "Refusal",
    "RefusalCode",
]


class FundflowError(Exception):
    """Base of every error the domain raises on purpose."""


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a definition: where it is and what is wrong."""

    file: str
    path: str  # YAML path, e.g. ``states[4].deadline.working_days``; "" for the whole file
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.file}:{self.path}: {prefix}{self.message}"


class DefinitionError(FundflowError):
    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CalendarError(FundflowError, ValueError):
    """An override calendar is wrong; the message names the file and YAML path."""


class UnknownDefinition(FundflowError, LookupError):
    def __init__(
        self,
        definition_id: str,
        version: int | None = None,
        known: tuple[str, ...] = (),
        versions: tuple[int, ...] = (),
    ):
        self.definition_id = definition_id
        self.version = version
        self.versions = versions
        what = definition_id if version is None else f"{definition_id} v{version}"
        if versions:  # the procedure exists, not in that version
            hint = f"（{definition_id} 已有版本：{', '.join(str(v) for v in versions)}）"
        else:
            hint = f"（已有：{', '.join(known)}）" if known else ""
        super().__init__(f"未找到流程定义 {what}{hint}")


class RefusalCode(str, enum.Enum):
    """Why the engine said no. The values are stable, English-readable API codes."""

    UNKNOWN_TRIGGER = "unknown_trigger"
    NOT_AVAILABLE = "trigger_not_available"
    CASE_CLOSED = "case_closed"
    CASE_SUSPENDED = "case_suspended"
    NOT_SUSPENDED = "case_not_suspended"
    ROLE_NOT_ALLOWED = "role_not_allowed"
    FIELD_MISSING = "field_missing"
    FIELD_INVALID = "field_invalid"
    INVALID_AMOUNT = "invalid_amount"  # an amount field that is not a plain positive amount
    DOCUMENTS_MISSING = "documents_missing"
    GUARD_REFUSED = "guard_refused"


@dataclass(frozen=True, slots=True)
class Refusal:
    """The engine's "no", with a Chinese message a clerk can act on."""

    code: RefusalCode
    message: str
    trigger: str
    state: str
    available: tuple[str, ...] = ()  # triggers the actor may fire in this state
    field: str | None = None  # the offending field, for FIELD_*
    guard: str | None = None  # the refusing guard, for GUARD_REFUSED
    detail: Mapping[str, Any] | None = None  # what the guard found (e.g. the shortfall and who lacks funds)

    @property
    def ok(self) -> bool:
        return False


class TransitionRefused(FundflowError):
    def __init__(self, refusal: Refusal):
        self.refusal = refusal
        super().__init__(f"{refusal.code.value}: {refusal.message}")


class AmountRefused(TransitionRefused):
    """An amount typed in a transition is not an amount (sign, exponent, more than two
    decimals, zero): a request error (422), not a refusal of the procedure."""


class ApportionmentError(FundflowError, ValueError):
    """The cost cannot be shared as asked; the message is in Chinese."""


class LedgerError(ApportionmentError):
    """A ledger operation that the books cannot take; the message is in Chinese."""


class PeriodError(FundflowError, ValueError):
    """A report period that cannot be read (``fundflow.domain.periods``); ``field`` names the
    parameter, the message is Chinese."""

    def __init__(self, message: str, field: str = "period"):
        super().__init__(message)
        self.message = message
        self.field = field


def refused(refusal: Refusal) -> TransitionRefused:
    """The exception for a refusal: ``AmountRefused`` for a bad amount, else ``TransitionRefused``."""
    return AmountRefused(refusal) if refusal.code is RefusalCode.INVALID_AMOUNT else TransitionRefused(refusal)
