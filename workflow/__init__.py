"""fundflow's domain: procedure definitions, working days, deadlines and the engine.

Pure Python: imports no web framework, database layer or scheduler.
"""

from .calendar import WorkCalendar, WorkdayCount, WorkdayResult
from .deadlines import StageDeadlines, compute_deadlines, escalation_moments
from .definition import Definition, State, Transition
from .diagram import to_mermaid
from .engine import Action, Actor, CaseSnapshot, Engine, Event, Outcome
from .errors import (
    CalendarError,
    DefinitionError,
    FundflowError,
    Problem,
    Refusal,
    RefusalCode,
    TransitionRefused,
    UnknownDefinition,
)
from .guards import Vote, VoteChoice
from .loader import DefinitionRegistry, check_file, load_directory, load_file

__all__ = [
    "Action", "Actor", "CalendarError", "CaseSnapshot", "Definition", "DefinitionError",
    "DefinitionRegistry", "Engine", "Event", "FundflowError", "Outcome", "Problem", "Refusal",
    "RefusalCode", "StageDeadlines", "State", "Transition", "TransitionRefused",
    "UnknownDefinition", "Vote", "VoteChoice", "WorkCalendar", "WorkdayCount", "WorkdayResult",
    "check_file", "compute_deadlines", "escalation_moments", "load_directory", "load_file",
    "to_mermaid",
]
