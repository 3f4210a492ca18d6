"""Kept for imports: the row -> JSON helpers live in ``fundflow.service.reads.common``."""

from fundflow.service.reads.common import (
    case_view as case_view,
)
from fundflow.service.reads.common import (
    event_view as event_view,
)
from fundflow.service.reads.common import (
    events_of as events_of,
)
from fundflow.service.reads.common import (
    field_view as field_view,
)
from fundflow.service.reads.common import (
    iso as iso,
)
from fundflow.service.reads.common import (
    money as money,
)
from fundflow.service.reads.common import (
    money_view as money_view,
)
from fundflow.service.reads.common import (
    not_overdue_clause as not_overdue_clause,
)
from fundflow.service.reads.common import (
    overdue_clause as overdue_clause,
)
from fundflow.service.reads.common import (
    stage_view as stage_view,
)
from fundflow.service.reads.common import (
    top_up_view as top_up_view,
)
