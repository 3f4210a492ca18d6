"""fundflow's domain: procedure definitions, working days, deadlines and the engine.

Pure Python: imports no web framework, database layer or scheduler.
"""

from fundflow.domain.calendar import WorkCalendar, WorkdayCount, WorkdayResult
from fundflow.domain.deadlines import StageDeadlines, compute_deadlines, escalation_moments
from fundflow.domain.definition import Definition, State, Transition
from fundflow.domain.diagram import to_mermaid
from fundflow.domain.engine import Action, Actor, CaseSnapshot, Engine, Event, Outcome
from fundflow.domain.errors import (
    CalendarError,
    DefinitionError,
    FundflowError,
    Problem,
    Refusal,
    RefusalCode,
    TransitionRefused,
    UnknownDefinition,
)
from fundflow.domain.guards import Vote, VoteChoice
from fundflow.domain.loader import DefinitionRegistry, check_file, load_directory, load_file

__all__ = [
    "Action",
    "Actor",
    "CalendarError",
    "CaseSnapshot",
    "Definition",
    "DefinitionError",
    "DefinitionRegistry",
    "Engine",
    "Event",
    "FundflowError",
    "Outcome",
    "Problem",
    "Refusal",
    "RefusalCode",
    "StageDeadlines",
    "State",
    "Transition",
    "TransitionRefused",
    "UnknownDefinition",
    "Vote",
    "VoteChoice",
    "WorkCalendar",
    "WorkdayCount",
    "WorkdayResult",
    "check_file",
    "compute_deadlines",
    "escalation_moments",
    "load_directory",
    "load_file",
    "to_mermaid",
]
