"""The demo's second loop: a year of opinions (民意收集办理, ``public_opinion``) played through the
use cases with their real past dates (``occurred_at``): collected, dispatched to a department,
sometimes transferred or returned, a solution proposed, answered, called back, reopened once
when unsatisfied, and closed as resolved, explained or duplicate; the last weeks' still open.

The departments are Zhuzhou's city departments; the people, places and texts are invented. The
outcome mix gives a resolution rate (resolved of the opinions closed, duplicates aside) of about
95.8%, the share Zhuzhou reported for 2024; the page computes its rates from these rows."""

from __future__ import annotations

import random
import time as _time
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from fundflow.domain.tz import SHANGHAI, local_date
from fundflow.service.context import Services
from fundflow.service.usecases import cases, handoffs, organisations, users

__all__ = ["seed_opinions", "OpinionSeed", "DEFAULT_OPINIONS", "DEPARTMENTS", "OPINION_USERS"]

#: ``fundflow demo``'s default count: over the 14,000 opinions Zhuzhou collected in 2024
DEFAULT_OPINIONS = 14_200
DEFINITION = "public_opinion"
#: a step is recorded this long after it happened (an offline act entered afterwards)
RECORDED_AFTER = timedelta(minutes=1)
CENTER = ("MY-ZX", "株洲市民意收集办理中心")

#: code, name, the categories it answers for
DEPARTMENTS = (
    ("JYJ", "市教育局", ("教育",)),
    ("ZJJ", "市住房和城乡建设局", ("城市建设",)),
    ("CGJ", "市城市管理和综合执法局", ("环境卫生", "城市建设")),
    ("JTJ", "市交通运输局", ("交通出行",)),
    ("RSJ", "市人力资源和社会保障局", ("社会保障",)),
    ("WJW", "市卫生健康委员会", ("医疗卫生",)),
    ("SJJ", "市市场监督管理局", ("市场监管",)),
    ("STJ", "市生态环境局", ("环境卫生",)),
    ("MZJ", "市民政局", ("社会保障", "其他")),
    ("GAJ", "市公安局交通警察支队", ("交通出行",)),
)

#: username, role, organisation code (None: city), display name
OPINION_USERS = (
    ("reg_center", "registrar", CENTER[0], "民意中心 周敏"),
    ("duban_city", "supervision_office", None, "督查室 刘强"),
    *((f"dept_{code.lower()}", "department", code, f"{name} 承办员") for code, name, _ in DEPARTMENTS),
)

_TOPICS = {
    "教育": ("学校门口上下学时段交通拥堵", "希望增加课后托管服务", "校服采购价格偏高", "学区划分不合理"),
    "城市建设": ("小区周边道路破损", "老旧小区加装电梯进度慢", "人行道被施工围挡占用", "路灯长期不亮"),
    "交通出行": ("公交线路发车间隔太长", "路口红绿灯时间不合理", "共享单车乱停放", "缺少无障碍通道"),
    "环境卫生": ("垃圾清运不及时", "夜间施工噪音扰民", "河道有异味", "餐馆油烟扰民"),
    "社会保障": ("养老金认证不便", "医保异地备案流程复杂", "失业金申领咨询", "社区养老服务不足"),
    "医疗卫生": ("社区卫生服务中心挂号难", "疫苗接种预约难", "医院停车难"),
    "市场监管": ("超市价格标签不符", "预付卡退费难", "农贸市场短斤少两"),
    "其他": ("建议增设便民服务点", "政务服务热线等候时间长"),
}
_SOURCES = (("grassroots", 0.45), ("echo_wall", 0.2), ("hotline", 0.35))
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林"


@dataclass
class OpinionSeed:
    opinions: int
    open: int
    seconds: float


def seed_parties(svc: Services, now: datetime, password: str) -> dict[str, object]:
    """The opinion center, the departments and a user of each (through the use cases)."""
    org_ids: dict[str, int] = {}
    org_ids[CENTER[0]] = organisations.add_organisation(
        svc, kind="opinion_center", code=CENTER[0], name=CENTER[1], now=now
    )["id"]
    for code, name, _ in DEPARTMENTS:
        org_ids[code] = organisations.add_organisation(svc, kind="department", code=code, name=name, now=now)["id"]
    people = {}
    for username, role, org, display in OPINION_USERS:
        people[username] = users.add_user(
            svc, username=username, display_name=display, role=role, org=org, password=password, now=now
        )[0]
    return {"orgs": org_ids, "users": people}


def seed_opinions(svc: Services, now: datetime, count: int, *, password: str, rng_seed: int = 2024) -> OpinionSeed:
    """``count`` opinions over the year before ``now``, through the use cases."""
    started = _time.perf_counter()
    parties = seed_parties(svc, now, password)
    orgs, people = parties["orgs"], parties["users"]
    rng = random.Random(rng_seed)
    reg = people["reg_center"]
    by_category: dict[str, list[str]] = {}
    for code, _, cats in DEPARTMENTS:
        for c in cats:
            by_category.setdefault(c, []).append(code)
    today = local_date(now)
    first = today - timedelta(days=365)
    days = [first + timedelta(days=i) for i in range(365)]
    weights = [0.4 if not svc.calendar.is_workday(d) else 1.0 for d in days]
    still_open = 0
    for i in range(count):
        day = rng.choices(days, weights)[0]
        category = rng.choice(list(_TOPICS))
        _CLOCK.stopped = False
        left = _one(svc, rng, now, today, day, category, by_category, orgs, people, reg, i)
        still_open += 1 if _CLOCK.stopped else left
    return OpinionSeed(count, still_open, _time.perf_counter() - started)


def _at(day: date, rng: random.Random, hour_from: int = 9) -> datetime:
    return datetime.combine(day, time(hour_from + rng.randrange(0, 8), rng.randrange(60)), SHANGHAI)


def _later(svc: Services, moment: datetime, rng: random.Random, low: int, high: int) -> datetime:
    """A moment ``low``-``high`` working days after ``moment`` (office hours)."""
    n = rng.randint(low, high)
    d = svc.calendar.add_workdays(local_date(moment), n).date if n else local_date(moment)
    at = _at(d, rng)
    return at if at > moment else moment + timedelta(minutes=30)


def _one(svc, rng, now, today, day, category, by_category, orgs, people, reg, i) -> int:
    """One opinion's story; 1 if it is left open at ``now``."""
    topic = rng.choice(_TOPICS[category])
    source = rng.choices([s for s, _ in _SOURCES], [w for _, w in _SOURCES])[0]
    opened_at = _at(day, rng)
    if opened_at >= now - timedelta(hours=2):
        opened_at = now - timedelta(hours=2)
    person = f"{rng.choice(_SURNAMES)}{'先生' if rng.random() < 0.5 else '女士'}"
    body = cases.open_case(
        svc,
        reg,
        definition=DEFINITION,
        community_id=None,
        subject={"name": person, "phone": f"138{rng.randrange(10**8):08d}"},
        title=topic,
        data={"source": source, "hazard_category": category, "description": f"{topic}，请有关部门处理。"},
        buildings=None,
        now=opened_at + RECORDED_AFTER,
        occurred_at=opened_at.isoformat(),
    ).body
    cid = body["id"]
    age = (today - day).days
    if rng.random() < 0.03:  # a duplicate of an earlier one
        _fire(svc, reg, cid, "close_duplicate", now, _later(svc, opened_at, rng, 0, 1), duplicate_of="同一诉求已受理")
        return 0
    if age <= 1 and rng.random() < 0.6:
        return 1  # registered, not yet dispatched
    codes = by_category[category]
    dept = rng.choice(codes)
    t = _fire(svc, reg, cid, "dispatch", now, _later(svc, opened_at, rng, 0, 1), department_id=orgs[dept])
    if rng.random() < 0.04:  # returned: not this department's; dispatched again
        t = _fire(
            svc,
            people[f"dept_{dept.lower()}"],
            cid,
            "return_to_previous",
            now,
            _later(svc, t, rng, 0, 1),
            reason="不属本单位职责，请重新派单",
        )
        dept = rng.choice([c for c, _, _ in DEPARTMENTS if c != dept])
        t = _fire(svc, reg, cid, "dispatch", now, _later(svc, t, rng, 0, 1), department_id=orgs[dept])
    elif rng.random() < 0.06:  # 转办 to another department
        target = rng.choice([c for c, _, _ in DEPARTMENTS if c != dept])
        moment = _later(svc, t, rng, 0, 1)
        if _CLOCK.stopped or moment + RECORDED_AFTER >= now:
            _CLOCK.stopped = True
            return 1
        asked = handoffs.transfer_case(
            svc,
            people[f"dept_{dept.lower()}"],
            cid,
            to_org_id=orgs[target],
            reason="涉及本单位以外职责，转相关部门办理",
            now=moment + RECORDED_AFTER,
        )
        # 签收: the receiving department takes it (a transfer waits for it until then)
        handoffs.accept_transfer(
            svc, people[f"dept_{target.lower()}"], asked.body["id"], note="已签收", now=moment + 2 * RECORDED_AFTER
        )
        t, dept = moment + RECORDED_AFTER, target
    clerk = people[f"dept_{dept.lower()}"]
    late = rng.random() < 0.05
    answered = _later(svc, t, rng, 11, 16) if late else _later(svc, t, rng, 1, 8)
    if answered >= now:
        return 1  # still being handled
    solution = _later(svc, t, rng, 0, 1)
    solution = min(solution, answered - timedelta(minutes=10))
    _fire(
        svc,
        clerk,
        cid,
        "propose_solution",
        now,
        solution,
        solution=f"针对“{topic}”制定整改措施",
        people_involved="已征求反映人及周边群众意见",
    )
    _fire(svc, clerk, cid, "answer", now, answered, answer_text="已按方案办理，并向反映人说明")
    called = _later(svc, answered, rng, 0, 2)
    if called >= now:
        return 1
    # the outcome mix: ~95.8% of the closed (duplicates aside) resolved
    roll = rng.random()
    if roll < 0.05:  # unsatisfied: reopened once, then mostly resolved
        _fire(svc, reg, cid, "call_back", now, called, satisfaction="unsatisfied")
        t = _fire(svc, reg, cid, "reopen", now, called + timedelta(minutes=20), reopen_reason="反映人对办理结果不满意")
        again = _later(svc, t, rng, 2, 6)
        if again >= now:
            return 1
        _fire(
            svc,
            clerk,
            cid,
            "propose_solution",
            now,
            again - timedelta(minutes=30),
            solution="重新制定方案",
            people_involved="上门听取意见",
        )
        _fire(svc, clerk, cid, "answer", now, again, answer_text="已重新办理")
        called = _later(svc, again, rng, 0, 2)
        if called >= now:
            return 1
        roll = rng.random() * 0.2  # most resolved the second time
    if roll < 0.042 or 0.05 <= roll < 0.074:  # explained: ~4.2% in all
        _fire(svc, reg, cid, "call_back", now, called, satisfaction=rng.choice(["unsatisfied", "basically_satisfied"]))
        _fire(
            svc,
            reg,
            cid,
            "close_explained",
            now,
            called + timedelta(minutes=5),
            explanation="受政策和条件限制暂不能解决，已向反映人解释说明",
        )
    else:
        satisfaction = "satisfied" if rng.random() < 0.85 else "basically_satisfied"
        _fire(svc, reg, cid, "call_back", now, called, satisfaction=satisfaction)
        _fire(svc, reg, cid, "close_resolved", now, called + timedelta(minutes=5))
    return 0


class _Clock:
    """Whether the story has reached ``now``: a step that would happen after it is not played,
    nor is any after it (the opinion stays where it is)."""

    stopped = False


_CLOCK = _Clock()


def _fire(svc, user, case_id: int, trigger: str, now: datetime, at: datetime, **data) -> datetime:
    if _CLOCK.stopped or at + RECORDED_AFTER >= now:
        _CLOCK.stopped = True
        return at
    cases.fire_transition(
        svc,
        user,
        case_id,
        trigger=trigger,
        data=data,
        comment=None,
        now=at + RECORDED_AFTER,
        occurred_at=at.isoformat(),
    )
    return at
