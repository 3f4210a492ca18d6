"""What the use cases report as they change state: Prometheus figures and the transition log.

The use case that fires a transition (``usecases.cases.fire_transition``) calls the
``Observer`` of its services, whoever called it (an API route, a page's form, the CLI): a
transition fired from a page is counted and logged like one fired through the API, and a
refusal is counted in this one place. ``/metrics`` exposes ``Observer.registry``.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter

from fundflow.domain.errors import Refusal
from fundflow.service import logs

__all__ = ["Observer", "transition_log"]

transition_log = logging.getLogger("fundflow.transitions")


class Observer:
    """One per ``Services``: its figures count what those services did."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.transitions = Counter(
            "fundflow_transitions_total", "Transitions fired", ["definition", "trigger"], registry=self.registry
        )
        self.refusals = Counter("fundflow_refusals_total", "Transitions refused", ["code"], registry=self.registry)

    def transition(
        self,
        *,
        definition: str,
        case_id: int,
        case_number: str,
        trigger: str,
        state: str,
        version: int,
        user: str,
        role: str,
    ) -> None:
        """A transition was fired and committed."""
        self.transitions.labels(definition, trigger).inc()
        logs.event(
            transition_log,
            "transition",
            case_id=case_id,
            case_number=case_number,
            trigger=trigger,
            state=state,
            version=version,
            user=user,
            role=role,
        )

    def refused(self, refusal: Refusal, *, case_id: int, user: str, role: str) -> None:
        """The engine refused a transition."""
        self.refusals.labels(refusal.code.value).inc()
        logs.event(
            transition_log,
            "transition_refused",
            case_id=case_id,
            trigger=refusal.trigger,
            state=refusal.state,
            code=refusal.code.value,
            user=user,
            role=role,
        )
