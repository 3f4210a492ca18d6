"""The rates a procedure reports (``figures:`` in its YAML), as frozen data.

Three rates, each declared by the procedure and each stated on the page with its definition:

- ``resolved`` (解决率): cases that ended in one of ``states`` over the cases that ended in one
  of ``of`` (a duplicate or a withdrawn case can be left out of both);
- ``on_time`` (按期办结率): of the cases that ended in one of ``of``, those whose stages in
  ``stages`` were each left by their due moment (an approved extension moves it);
- ``satisfaction`` (满意率): cases whose last answer to the choice field ``field`` is one of
  ``satisfied`` over the cases that have an answer.

Which case counts where is read from the case's state and data only: the rules are here, the
queries in ``fundflow/service/reads/rates.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Figures", "Rate", "RESOLVED", "ON_TIME", "SATISFACTION", "RATE_KINDS"]

RESOLVED = "resolved"
ON_TIME = "on_time"
SATISFACTION = "satisfaction"
RATE_KINDS = (RESOLVED, ON_TIME, SATISFACTION)


@dataclass(frozen=True, slots=True)
class Rate:
    kind: str  # one of RATE_KINDS
    label: str  # 解决率, 按期办结率, 满意率
    description: str  # the definition stated beside the figure
    states: frozenset[str] = frozenset()  # resolved: the end states that count as resolved
    of: frozenset[str] = frozenset()  # resolved, on_time: the end states of the denominator
    stages: frozenset[str] = frozenset()  # on_time: the stages whose deadlines count
    field: str | None = None  # satisfaction: the choice field the call-back records
    satisfied: tuple[str, ...] = ()  # satisfaction: the answers that count as satisfied


@dataclass(frozen=True, slots=True)
class Figures:
    resolved: Rate | None = None
    on_time: Rate | None = None
    satisfaction: Rate | None = None

    @property
    def rates(self) -> tuple[Rate, ...]:
        return tuple(r for r in (self.resolved, self.on_time, self.satisfaction) if r is not None)
