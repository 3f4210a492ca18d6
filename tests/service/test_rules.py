"""One predicate per rule, and where a rule has a SQL twin, both agree on the same rows:
overdue (``deadline_status`` / ``overdue_clause``), working days left, the top-up line."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_
from sqlmodel import select

from fundflow.domain.alerts import AlertKind, AlertMoment
from fundflow.domain.apportionment import TOP_UP_SHARE
from fundflow.domain.deadlines import deadline_status, working_days_left
from fundflow.domain.ledger import Account, below_top_up_line, top_up, top_up_line
from fundflow.domain.money import from_fen
from fundflow.domain.tz import local_date
from fundflow.service.alert_text import stage_alert_text
from fundflow.service.db import read_only, transaction
from fundflow.service.reads.common import overdue_clause, stage_view
from fundflow.service.tables import Case, Stage
from tests.support.flows import Flow
from tests.support.world import NOW

DAY = timedelta(days=1)


def _open_stages(svc) -> list[tuple[Case, Stage]]:
    with read_only(svc.sessions) as s:
        return list(s.exec(select(Case, Stage).join(Stage, and_(Stage.case_id == Case.id, Stage.left_at.is_(None)))))


def test_overdue_in_python_and_in_sql_agree_on_the_same_rows(world):
    """Stages due before, at, after ``now``, one without a deadline, one of a suspended case:
    ``deadline_status(...).overdue`` and ``overdue_clause`` pick the same ones, at every moment."""
    flow = Flow(world)
    ids = [flow.open(title=f"第{i}件") for i in range(6)]
    offsets = [-3 * DAY, -timedelta(seconds=1), timedelta(0), timedelta(seconds=1), 2 * DAY, None]
    with transaction(world.svc.sessions) as s:
        for case_id, offset in zip(ids, offsets):
            stage = s.exec(select(Stage).where(Stage.case_id == case_id, Stage.left_at.is_(None))).one()
            if offset is None:
                stage.due_at = stage.due_date = stage.warn_at = None
            else:
                stage.due_at = NOW + offset
                stage.due_date = local_date(stage.due_at - timedelta(microseconds=1))
            s.add(stage)
        suspended = s.get(Case, ids[0])  # long overdue, but suspended: not overdue
        suspended.suspended_since = NOW - 5 * DAY
        s.add(suspended)
    cal = world.svc.calendar
    for now in (NOW - 4 * DAY, NOW - timedelta(seconds=1), NOW, NOW + timedelta(seconds=1), NOW + 3 * DAY):
        python = {
            case.id
            for case, st in _open_stages(world.svc)
            if deadline_status(st.due_date, st.due_at, st.warn_at, now, cal, case.suspended_since is not None).overdue
        }
        with read_only(world.svc.sessions) as s:
            sql = set(
                s.exec(
                    select(Case.id)
                    .join(Stage, and_(Stage.case_id == Case.id, Stage.left_at.is_(None)))
                    .where(overdue_clause(now))
                ).all()
            )
        assert python == sql, now
    assert ids[0] not in python and ids[1] in python  # (the last moment: all due ones, bar the suspended)


def test_working_days_left_is_one_count_for_the_pages_and_the_alerts(services):
    """The stage view (pages, API) and the alert text say the same number on the same day."""
    cal = services.calendar
    due = date(2026, 3, 13)  # a Friday
    for on in (date(2026, 3, 9), date(2026, 3, 12), date(2026, 3, 13), date(2026, 3, 17)):
        now = datetime(on.year, on.month, on.day, 2, 0, tzinfo=NOW.tzinfo)  # 10:00 in Shanghai
        left = working_days_left(cal, on, due)
        assert (
            deadline_status(due, datetime(2026, 3, 13, 16, 0, tzinfo=NOW.tzinfo), None, now, cal).working_days_left
            == left
        )
        kind = AlertKind.WARNING if left >= 0 else AlertKind.OVERDUE
        _, message = stage_alert_text(
            AlertMoment(kind, 0, 0, now, ("street_office",)),
            community="月塘新村",
            case_number="FF2026000001",
            case_title="消防水泵",
            stage_label="现场查勘",
            due_date=due,
            provisional=False,
            calendar=cal,
            responsible_label=None,
        )
        if left > 0:
            assert f"剩余 {left} 个工作日" in message
        elif left == 0:
            assert "今日到期" in message
        else:
            assert f"已超期 {-left} 个工作日" in message


def test_the_stage_view_says_the_domain_rule(world):
    flow = Flow(world)
    flow.open()
    d = world.svc.registry.get("fire_hazard_emergency")
    [(case, stage)] = _open_stages(world.svc)
    for now in (NOW, stage.due_at, stage.due_at + 5 * DAY):
        view = stage_view(world.svc, d, stage, now, False)
        status = deadline_status(stage.due_date, stage.due_at, stage.warn_at, now, world.svc.calendar)
        assert (view["overdue"], view["warned"], view["working_days_left"]) == (
            status.overdue,
            status.warned,
            status.working_days_left,
        )


def test_the_top_up_line_is_one_rule_for_notices_balances_and_the_apportionment_flag():
    """In fen, exactly on the line is not below it; the notices (``top_up``) and the
    apportionment table's flag (``below_top_up_line``) agree."""
    for first in (1, 3, 10, 333, 100_01, 2_000_00, 3_333_33):
        line = top_up_line(first)
        assert Decimal(line - 1) < Decimal(first) * TOP_UP_SHARE <= Decimal(line)
        for available in (0, line - 1, line, line + 1, first):
            below = below_top_up_line(available, first)
            assert below == (available < line)
            assert below == (from_fen(available) < from_fen(first) * TOP_UP_SHARE)  # the yuan reading
            before = [Account(1, Decimal("1"), balance=first + line + 1, frozen=0, first_deposit=first)]
            after = [Account(1, Decimal("1"), balance=available, frozen=0, first_deposit=first)]
            assert bool(top_up(before, after)) == below
