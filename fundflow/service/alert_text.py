"""The Chinese text of alerts: who, which case, which stage, when due, how late."""

from __future__ import annotations

from datetime import date

from fundflow.domain.alerts import AlertKind, AlertMoment
from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.deadlines import working_days_left
from fundflow.domain.tz import local_date

__all__ = ["stage_alert_text", "calendar_alert_text", "KIND_LABELS"]

KIND_LABELS = {
    AlertKind.WARNING.value: "预警",
    AlertKind.OVERDUE.value: "超期",
    AlertKind.ESCALATION.value: "督办",
    "calendar": "日历",
}


def stage_alert_text(
    moment: AlertMoment,
    *,
    community: str,
    case_number: str,
    case_title: str,
    stage_label: str,
    due_date: date,
    provisional: bool,
    calendar: WorkCalendar,
    responsible_label: str | None,
    escalate_to: str | None = None,
) -> tuple[str, str]:
    """(title, message) for an alert about a stage; ``escalate_to``: whom the ladder's step
    names (the roles' labels), said in an escalation's text."""
    tag = KIND_LABELS[moment.kind.value]
    head = f"{community} 案件{case_number}「{case_title}」"
    on = local_date(moment.at)
    due = due_date.isoformat()
    who = f"（责任单位：{responsible_label}）" if responsible_label else ""
    # the one count the pages and the API say too, on the alert's day
    left = working_days_left(calendar, on, due_date)
    if moment.kind is AlertKind.WARNING:
        body = (
            f"“{stage_label}”环节将于 {due} 到期，" + (f"剩余 {left} 个工作日" if left > 0 else "今日到期") + f"{who}。"
        )
    else:
        late = -left
        late_text = f"已超期 {late} 个工作日" if late > 0 else "已超期"
        body = f"“{stage_label}”环节应于 {due} 前办结，{late_text}{who}。"
        if moment.kind is AlertKind.ESCALATION:
            body += (
                f"请{escalate_to or '上级主管部门'}督办（第 {moment.level} 级"
                + (f"，第 {moment.repeat + 1} 次" if moment.repeat else "")
                + "）。"
            )
    if provisional:
        body += "注：期限跨入放假安排尚未公布的年度，按法定节日规则（元旦、春节、清明、劳动节、端午、中秋、国庆）暂定，不含调休，公布后将重新计算。"
    title = f"【{tag}】{community} {stage_label} 到期日 {due}"
    return title[:200], f"【{tag}】{head}{body}"


def calendar_alert_text(year: int, today: date) -> tuple[str, str]:
    title = f"【日历】{year} 年放假安排尚未导入"
    message = (
        f"【日历】截至 {today.isoformat()}，工作日历尚无 {year} 年的法定节假日安排。跨入 {year} 年的期限"
        f"暂按法定节日规则计算、不含调休（标注“暂定”）。国务院办公厅公布后，请在 fundflow/calendars/overrides.yaml 中补充 {year} 年"
        f"全年安排（或升级 chinesecalendar），系统将重新计算暂定期限。"
    )
    return title, message
