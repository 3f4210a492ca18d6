"""When each step of a story happened: scheduled backwards from ``now`` in working days, so
that a case meant to be overdue or warned at ``now`` is so, then spread over the office hours."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from fundflow.domain.deadlines import compute_deadlines
from fundflow.domain.tz import SHANGHAI, local_date
from fundflow.service.seed.stories import Script


class Timetable:
    """The dates and times of the steps (a part of ``fundflow.service.seed._Seeder``)."""

    def _back(self, d: date, gap: int | tuple[str, int]) -> date:
        if isinstance(gap, tuple):
            x = d - timedelta(days=gap[1])
            while not self.cal.is_workday(x):
                x -= timedelta(days=1)
            return x
        return self.cal.add_workdays(d, -gap).date if gap else d

    def _dates(self, sc: Script, last: date) -> list[date]:
        dates = [last] * len(sc.steps)
        for i in range(len(sc.steps) - 1, 0, -1):
            dates[i - 1] = self._back(dates[i], sc.steps[i].gap)
        return dates

    def _status(self, sc: Script, entry: date) -> str:
        d = self.svc.registry.get(sc.spec.definition)
        rule = d.states[sc.spec.stop].deadline
        data = {}
        if rule is not None and rule.date_field == "rectification_deadline":
            data["rectification_deadline"] = self._rect_deadline(sc.spec, entry).isoformat()
        elif rule is not None and rule.date_field == "repair_deadline":
            data["repair_deadline"] = (self.today + timedelta(days=20)).isoformat()
        dl = compute_deadlines(rule, datetime.combine(entry, time(10), SHANGHAI), self.cal, data)
        if dl is None:
            return "ok"
        if dl.due_at <= self.now:
            return "overdue"
        if dl.warn_at is not None and dl.warn_at <= self.now:
            return "warned"
        return "ok"

    def schedule(self, sc: Script) -> None:
        spec = sc.spec
        terminal = sc.entry is None
        if terminal:
            dates = self._dates(sc, self.cal.add_workdays(self.today, -spec.idle).date)
        else:
            want = "ok" if spec.status == "suspended" else spec.status
            extra = self.g(2, 5) if want == "overdue" else 0
            # A one-working-day warning starts on the due date itself, so on a weekend or a
            # holiday no case can be "warned" in such a stage, and during a long holiday a
            # calendar-day stage may be warned at once: then the next best status will do.
            k = max(1, spec.min_idle)
            for wanted in (want, "ok", "warned"):
                found = next(
                    (
                        k
                        for k in range(max(1, spec.min_idle), 200)
                        if spec.status == "suspended"
                        or self._status(sc, self._dates(sc, self.cal.add_workdays(self.today, -k).date)[sc.entry])
                        == wanted
                    ),
                    None,
                )
                if found is not None:
                    k = found
                    break
            dates = self._dates(sc, self.cal.add_workdays(self.today, -k).date)
            if extra:
                dates = self._dates(sc, self.cal.add_workdays(self.today, -(k + extra)).date)
        times: list[datetime] = []
        for d in dates:
            if times and local_date(times[-1]) == d:
                t = times[-1] + timedelta(minutes=self.rng.randint(3, 16), seconds=self.rng.randint(0, 59))
            else:
                start = time(8, 40) if self.rng.random() < 0.5 else time(14, 30)
                t = datetime.combine(d, start, SHANGHAI) + timedelta(minutes=self.rng.randint(0, 55))
            times.append(t)
        assert all(a < b for a, b in zip(times, times[1:])) and times[-1] < self.now, spec.key
        sc.times = times
