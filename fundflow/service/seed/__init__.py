"""A believable demo city: Zhuzhou's four urban districts, their street offices, 30 fictional
old residential communities with households and ledgers, a user per role, and 38 cases in every
stage of the procedure, each driven only through the use cases on a simulated clock.

``seed_demo(svc, now)`` is what ``fundflow demo`` calls. It is idempotent: when the database
already holds districts it creates nothing and only issues fresh tokens for the demo users
(``reset=True`` wipes every table and the documents folder first, then seeds again).

Places (districts, street offices) are real; the communities, addresses, people and cases are
invented. Everything happens before ``now``: each case is scheduled backwards from ``now`` in
working days (``svc.calendar``), so that the cases meant to be overdue or warned are so at
``now``, then played forward through ``cases.open_case``, ``documents.attach_document``,
``meetings.record_vote`` and ``cases.fire_transition`` as the users whose job each step is.

``city`` holds the places, households and users; ``stories`` the cases; ``schedule`` when
each step happened. This module keeps the entry point and the summary ``fundflow demo`` prints.
"""

from __future__ import annotations

import random
import shutil
import time as _time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func
from sqlmodel import select

from fundflow.domain.tz import SHANGHAI, local_date, require_aware
from fundflow.service.auth import issue_token
from fundflow.service.context import Services
from fundflow.service.db import transaction
from fundflow.service.seed.city import DEMO_PASSWORD, DEMO_USERNAMES, DEMO_USERS, DISTRICTS, CityBuilder, Place
from fundflow.service.seed.opinions import DEFINITION, seed_opinions
from fundflow.service.seed.schedule import Timetable
from fundflow.service.seed.stories import StoryTeller
from fundflow.service.tables import Case, Community, District, Household, User, metadata

__all__ = ["seed_demo", "SeedResult", "DEMO_PASSWORD", "DEMO_USERNAMES"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"

Row = tuple[str, str, str, str, str]  # role, username, display name, org name, token


@dataclass
class SeedResult:
    users: list[Row]
    cases: int
    archived: int
    communities: int
    skipped: bool
    households: int = 0
    seconds: float | None = None
    opinions: int = 0  # of the second loop (public_opinion)
    opinion_seconds: float | None = None

    def summary(self, base_url: str = DEFAULT_BASE_URL) -> str:
        """The users and tokens, and where the pages and the API docs are served (``base_url``)."""
        head = (
            "演示数据已存在，未重新生成（--reset 可重建）；已为演示账号签发新令牌。\n"
            "Demo data already present, nothing created (use --reset to rebuild); fresh tokens issued."
            if self.skipped
            else "已生成演示城市：株洲市荷塘区、芦淞区、石峰区、天元区。\n"
            "Demo city seeded: Zhuzhou's urban districts Hetang, Lusong, Shifeng, Tianyuan."
        )
        widths = [
            max([_width(r[i]) for r in self.users] + [_width(h)])
            for i, h in enumerate(("角色 role", "用户名 username", "", "单位 org"))
        ]
        lines = [
            "=" * 78,
            "fundflow 演示数据 / demo data",
            head,
            f"小区 communities: {self.communities}    房屋 households: {self.households}    "
            f"案件 cases: {self.cases}    已办结归档 archived: {self.archived}",
            *(
                [
                    f"民意 opinions: {self.opinions}（{self.opinion_seconds:.0f} s）    承办单位账号 departments: dept_<编码>, reg_center, duban_city"
                ]
                if self.opinions and self.opinion_seconds is not None
                else []
            ),
            f"登录密码 password (all users): {DEMO_PASSWORD}",
            "",
            "  ".join(
                [
                    _pad("角色 role", widths[0]),
                    _pad("用户名 username", widths[1]),
                    _pad("单位 org", widths[3]),
                    "令牌 token (Authorization: Bearer ...)",
                ]
            ),
        ]
        for role, username, _display, org, token in self.users:
            lines.append("  ".join([_pad(role, widths[0]), _pad(username, widths[1]), _pad(org, widths[3]), token]))
        lines += [
            "",
            "其他账号（同一密码）/ other accounts (same password): so_<街道拼音> for every street office "
            "(e.g. so_cigutang), fr_<区拼音> per district (fr_lusong), oc_<小区编码> per community (oc_ls_jn_01).",
            f"页面 / pages: {base_url}/    登录 / login: {base_url}/login",
            f"API 文档 / API docs: {base_url}/docs    接口 / API: {base_url}/api/v1",
            "=" * 78,
        ]
        return "\n".join(lines)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


# -- entry point ---------------------------------------------------------------------------


def seed_demo(
    svc: Services, now: datetime, *, reset: bool = False, rng_seed: int = 20261126, opinions: int | None = None
) -> SeedResult:
    """Seed the demo city, or (already seeded, no ``reset``) just issue fresh demo tokens.
    ``opinions``: how many opinions of the second loop (default: the setting ``demo_opinions``)."""

    require_aware(now, "now")
    started = _time.perf_counter()
    if reset:
        _wipe(svc)
    elif _has_places(svc):
        result = _refresh_tokens(svc, now)
        result.seconds = _time.perf_counter() - started
        return result
    seeder = _Seeder(svc, now, rng_seed)
    seeder.run()
    count = svc.settings.demo_opinions if opinions is None else opinions
    loop = (
        seed_opinions(svc, now, count, password=DEMO_PASSWORD) if count and DEFINITION in svc.registry.ids() else None
    )
    result = _counts(svc, seeder.demo_rows(), skipped=False)
    if loop is not None:
        result.opinions, result.opinion_seconds = loop.opinions, loop.seconds
    result.seconds = _time.perf_counter() - started
    return result


def _has_places(svc: Services) -> bool:
    with transaction(svc.sessions) as s:
        return s.exec(select(District.id).limit(1)).first() is not None


def _wipe(svc: Services) -> None:
    with svc.db.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    shutil.rmtree(svc.settings.documents_dir, ignore_errors=True)


def _refresh_tokens(svc: Services, now: datetime) -> SeedResult:
    rows: list[Row] = []
    with transaction(svc.sessions) as s:
        by_name = {u.username: u for u in s.exec(select(User).where(User.username.in_(DEMO_USERNAMES)))}
        for _role, username, _display, _org in DEMO_USERS:
            user = by_name.get(username)
            if user is None or not user.active:
                continue
            rows.append((user.role, user.username, user.display_name, user.org_name, issue_token(s, user, "api", now)))
    return _counts(svc, rows, skipped=True)


def _counts(svc: Services, rows: list[Row], *, skipped: bool) -> SeedResult:

    with transaction(svc.sessions) as s:
        cases = s.exec(select(func.count()).select_from(Case)).one()
        archived = s.exec(select(func.count()).select_from(Case).where(Case.state == "archived")).one()
        communities = s.exec(select(func.count()).select_from(Community)).one()
        households = s.exec(select(func.count()).select_from(Household)).one()
    return SeedResult(rows, int(cases), int(archived), int(communities), skipped, households=int(households))


# -- the seeder -------------------------------------------------------------------------------


class _Seeder(CityBuilder, StoryTeller, Timetable):
    """Plans the city and the cases, schedules every step backwards from ``now``, then writes
    the places and users and plays the cases forward through the use cases."""

    def __init__(self, svc: Services, now: datetime, rng_seed: int):
        self.svc = svc
        self.now = now
        self.today = local_date(now)
        self.cal = svc.calendar
        self.rng = random.Random(rng_seed)
        self.users: dict[str, User] = {}
        self.tokens: dict[str, str] = {}
        self.places: dict[str, Place] = {}
        self.office_ids: dict[str, int] = {}
        self.office_pinyin = {o[0]: o[2] for d in DISTRICTS for o in d[4]}
        self.district_info = {d[0]: d for d in DISTRICTS}
        self.fire_notice_no = 0
        self.helpers: list[int] = []
        self.setup_at = now  # set once the cases are scheduled

    def run(self) -> None:
        self.plan_places()
        scripts = self.plan_cases()
        for sc in scripts:
            self.schedule(sc)
        first = min(sc.times[0] for sc in scripts)
        self.setup_at = datetime.combine(local_date(first) - timedelta(days=30), time(9, 0), SHANGHAI)
        self.insert_places()
        self.insert_users()
        self.insert_communities()
        # the street office users of every office, the fire rescue of every district
        for place in self.places.values():
            self.actor("so", place)
            self.actor("fr", place)
        for sc in scripts:
            self.play(sc)
        self.supervise()  # the demo's 督办 (issue 11a)
        self.set_helper_passwords()

    def demo_rows(self) -> list[Row]:
        rows = []
        for _role, username, _display, _org in DEMO_USERS:
            u = self.users[username]
            rows.append((u.role, u.username, u.display_name, u.org_name, self.tokens[username]))
        return rows
