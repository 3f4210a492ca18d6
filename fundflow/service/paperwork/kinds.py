"""What each generated document says, from the case: the data its template is filled with and
its table. The wording is in ``templates/<kind>.yaml`` (or the city's copy in
``FUNDFLOW_DOCUMENT_TEMPLATES_DIR``), Jinja2 in a sandbox, so a city edits words, not code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlmodel import Session, select

from fundflow.domain.tz import SHANGHAI
from fundflow.service.errors import InvalidInput
from fundflow.service.paperwork.model import Paper, Table
from fundflow.service.reads.common import area_text
from fundflow.service.tables import (
    Building,
    Case,
    Community,
    Event,
    MeetingBallot,
    MeetingSession,
    MeetingVote,
    StreetOffice,
    Supervision,
    TopUpNotice,
)
from fundflow.service.usecases.owners import owner_code

__all__ = ["KINDS", "build", "LABELS", "GENERATED_LABELS", "doc_type_of"]

HERE = Path(__file__).resolve().parent / "templates"
_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
LABELS = {"notice": "维修资金使用公示", "minutes": "联席会议纪要", "top_up": "续交通知", "supervision": "督办通知单"}
BASIS = {"settled_amount": "结算金额", "approved_amount": "核准金额"}


def doc_type_of(kind: str) -> str:
    """The document type a generated file is kept under on the case."""
    return f"generated_{kind}"


#: the document types of generated files, as the case page names them
GENERATED_LABELS = {doc_type_of(k): f"{v}（系统生成）" for k, v in LABELS.items()}


def _yuan(value: Any) -> str:
    return f"{Decimal(value):,.2f}"


def _day(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    d = moment.astimezone(SHANGHAI).date()
    return f"{d.year}年{d.month}月{d.day}日"


def _template(kind: str, folder: Path | None) -> dict[str, Any]:
    path = (
        folder / f"{kind}.yaml" if folder is not None and (folder / f"{kind}.yaml").is_file() else HERE / f"{kind}.yaml"
    )
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("title"), str):
        raise InvalidInput(f"文书模板格式有误：{path.name}（须有 title）", code="document_template_invalid")
    return data


def _fill(template: dict[str, Any], context: dict[str, Any], table: Table | None, meta: dict[str, str]) -> Paper:
    def one(text: str) -> str:
        return _env.from_string(str(text)).render(**context).strip()

    def many(key: str) -> tuple[str, ...]:
        return tuple(t for t in (one(x) for x in template.get(key) or ()) if t)

    return Paper(
        title=one(template["title"]),
        subtitle=one(template.get("subtitle", "")),
        before=many("before"),
        table=table,
        after=many("after"),
        signature=many("signature"),
        meta=meta,
    )


def _common(s: Session, svc, case: Case, dated: datetime | str | None) -> dict[str, Any]:
    """The names every document uses; ``today`` is the date the document bears: that of the act
    it records (so regenerating it unchanged gives the same file), never the clock's."""
    community = s.get(Community, case.community_id) if case.community_id is not None else None
    office = s.get(StreetOffice, case.street_office_id) if case.street_office_id is not None else None
    return {
        "number": case.number,
        "title": case.title,
        "procedure": svc.registry.get(case.definition_id, case.definition_version).title,
        "community": community.name if community else "",
        "street_office": office.name if office else "",
        "today": _day(dated) or _day(case.updated_at),
    }


def _scope(s: Session, case: Case) -> str:
    if not case.scope_building_ids:
        return "全小区"
    names = s.exec(select(Building.name).where(Building.id.in_(case.scope_building_ids))).all()
    return "、".join(sorted(names))


def notice(s: Session, svc, case: Case, now: datetime) -> tuple[dict[str, Any], Table]:
    from fundflow.service.reads.case import apportionment

    table = apportionment(s, svc, case)  # InvalidInput while there is no amount or no household
    d = svc.registry.get(case.definition_id, case.definition_version)
    days, posting_act = d.notice_period()  # from the definition's notice guard
    acts = case.act_times or {}
    posted = acts.get(posting_act) if posting_act else None
    context = {
        # the notice bears its posting date, before that the date of the case's last act
        **_common(s, svc, case, posted or max(acts.values(), default=None)),
        "basis_label": BASIS.get(table["basis"], "金额"),
        "total": _yuan(table["total"]),
        "scope": _scope(s, case),
        "households": table["households"],
        "total_area": area_text(table["total_area"]),
        "notice_days": days,
        "posted": _day(posted),
        "owner_code": owner_code(svc.settings.secret_key, case.id),
    }
    rows = tuple((r["building"], r["unit"], r["room"], area_text(r["area"]), _yuan(r["share"])) for r in table["rows"])
    total = ("合计", "", f"{table['households']} 户", area_text(table["total_area"]), _yuan(table["total"]))
    return context, Table(("楼栋", "单元", "房号", "建筑面积（㎡）", "分摊金额（元）"), rows, total, frozenset({3, 4}))


def minutes(s: Session, svc, case: Case, now: datetime) -> tuple[dict[str, Any], Table]:
    d = svc.registry.get(case.definition_id, case.definition_version)
    meeting_states = [st for st in d.states if d.meeting_parties(st)]
    decided = s.exec(
        select(Event)
        .where(Event.case_id == case.id, Event.from_state.in_(meeting_states), Event.to_state != Event.from_state)
        .order_by(Event.seq.desc())
    ).first()
    votes = {v.party: v for v in s.exec(select(MeetingVote).where(MeetingVote.case_id == case.id))}
    if decided is None and not votes:
        raise InvalidInput("联席会议尚未召开或尚未登记表决，不能生成会议纪要", code="no_meeting_yet")
    parties = [p for st in meeting_states for p in d.meeting_parties(st)]
    choice = {"agree": "同意", "disagree": "不同意", "abstain": "弃权"}
    # the latest sitting (its date and venue) and who came for each party at it
    sitting = s.exec(
        select(MeetingSession).where(MeetingSession.case_id == case.id).order_by(MeetingSession.id.desc())
    ).first()
    attendees: dict[str, str] = {}
    if sitting is not None:
        for b in s.exec(select(MeetingBallot).where(MeetingBallot.session_id == sitting.id).order_by(MeetingBallot.id)):
            if b.attendees:
                attendees[b.party] = b.attendees
    rows = []
    for party in dict.fromkeys(parties):
        v = votes.get(party)
        rows.append(
            (
                d.roles[party].label if party in d.roles else party,
                ("出席" + (f"（{attendees[party]}）" if party in attendees else "") if v.attended else "缺席")
                if v
                else "未登记",
                choice.get(v.vote or "", "—") if v else "—",
                (v.opinion or "") if v else "",
            )
        )
    data = decided.data if decided is not None else {}
    occurred = data.get("occurred_at") if isinstance(data, dict) else None
    implementer = data.get("implementer")
    context = {
        **_common(s, svc, case, occurred or (decided.at if decided else None)),
        "held": (
            f"{sitting.held_on.year}年{sitting.held_on.month}月{sitting.held_on.day}日"
            if sitting is not None
            else _day(occurred or (decided.at if decided else None)) or "（尚未决定）"
        ),
        "venue": sitting.venue if sitting is not None else str(data.get("venue") or "（未登记）"),
        "decision": decided.label if decided is not None else "（尚未决定）",
        "scope": _scope(s, case),
        "scope_reason": str(data.get("scope_reason") or ""),
        "budget": _yuan(data["budget_estimate"]) if data.get("budget_estimate") else "",
        "implementer": d.roles[implementer].label if implementer in d.roles else (implementer or ""),
    }
    return context, Table(("参会单位", "出席情况", "表决意见", "意见说明"), tuple(rows))


def top_up(s: Session, svc, case: Case, now: datetime) -> tuple[dict[str, Any], Table]:
    n = s.exec(select(TopUpNotice).where(TopUpNotice.case_id == case.id).order_by(TopUpNotice.id.desc())).first()
    if n is None:
        raise InvalidInput("本案没有低于首次交存额 30% 的房屋，无需续交通知", code="no_top_up_needed")
    rows = tuple(
        (r["household"], _yuan(r["first_deposit"]), _yuan(r["available"]), _yuan(r["line"]), _yuan(r["top_up"]))
        for r in n.rows
    )
    context = {**_common(s, svc, case, n.created_at), "households": n.households, "total": _yuan(n.total)}
    total = ("合计", "", "", "", _yuan(n.total))
    headings = ("房屋", "首次交存额（元）", "可用余额（元）", "续交线（元）", "应续交（元）")
    return context, Table(headings, rows, total, frozenset({1, 2, 3, 4}))


def supervision(s: Session, svc, case: Case, now: datetime) -> tuple[dict[str, Any], Table | None]:
    """The case's latest 督办 (its round, what, by when, the reply and the close if any)."""
    sup = s.exec(select(Supervision).where(Supervision.case_id == case.id).order_by(Supervision.id.desc())).first()
    if sup is None:
        raise InvalidInput("本案没有督办，不能生成督办通知单", code="no_supervision")
    d = svc.registry.get(case.definition_id, case.definition_version)
    due = sup.reply_due_date
    context = {
        **_common(s, svc, case, sup.issued_at),
        "round": sup.round,
        "to_org": sup.to_org or (d.roles[sup.to_role].label if sup.to_role in d.roles else sup.to_role),
        "stage": d.states[sup.state].label if sup.state in d.states else sup.state,
        "content": sup.content,
        "reply_due": f"{due.year}年{due.month}月{due.day}日",
        "reply_working_days": sup.reply_working_days,
        "reply": sup.reply or "",
        "replied": _day(sup.replied_at) if sup.replied_at else "",
        "closed": _day(sup.closed_at) if sup.closed_at else "",
        "close_note": sup.close_note or "",
        "issuer": d.roles[sup.issuer_role].label if sup.issuer_role in d.roles else sup.issuer_role,
    }
    return context, None


KINDS: dict[str, Callable[..., tuple[dict[str, Any], Table | None]]] = {
    "notice": notice,
    "minutes": minutes,
    "top_up": top_up,
    "supervision": supervision,
}


def build(s: Session, svc, case: Case, kind: str, now: datetime) -> Paper:
    context, table = KINDS[kind](s, svc, case, now)
    meta = {"author": context["street_office"] or "fundflow", "subject": f"{LABELS[kind]}（案件 {case.number}）"}
    return _fill(_template(kind, svc.settings.document_templates_dir), context, table, meta)
