"""The period report as a workbook (city.xlsx): a sheet of totals, one per level, one of stages.

The same figures as ``GET /api/v1/reports`` (``fundflow.service.reads.reports``): counts as
integers, amounts as numbers to the fen (format ``#,##0.00``), Chinese headings, a title and the
period on every sheet. Names are written through ``safe_append``: never a formula.
"""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from fundflow.service.exports import safe_append
from fundflow.service.reads.reports import AMOUNTS

__all__ = ["report_xlsx"]

#: level -> (sheet title, name columns: (heading, key))
LEVEL_SHEETS = (
    ("districts", "按区", (("区", "name"),)),
    ("street_offices", "按街道", (("区", "district"), ("街道", "name"))),
    ("communities", "按小区", (("区", "district"), ("街道", "street_office"), ("小区", "name"))),
)
STAGE_HEADINGS = ("流程", "环节", "办结环节数", "有期限的", "按期办结", "按期率", "平均用时（工作日）")


def _value(key: str, value: Any) -> Any:
    return Decimal(value) if key in AMOUNTS else value


def _title(ws, report: dict[str, Any], what: str) -> None:
    period = report["period"]
    safe_append(ws, [f"维修资金应急使用统计报表：{what}"])
    ws["A1"].font = Font(bold=True, size=14)
    safe_append(
        ws,
        [
            f"统计期间：{period['label']}（{period['from']} 至 {period['to']}）；数据截至 {report['as_of'][:16].replace('T', ' ')}"
        ],
    )


def _headings(ws, headings: list[str]) -> None:
    safe_append(ws, headings)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def _format(ws, first_row: int, money_columns: list[int], widths: list[int]) -> None:
    for col in money_columns:
        for (cell,) in ws.iter_rows(min_row=first_row, min_col=col, max_col=col):
            cell.number_format = "#,##0.00"
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = ws.cell(row=first_row, column=1)


def report_xlsx(report: dict[str, Any]) -> bytes:
    figures: dict[str, str] = report["figures"]
    keys = list(figures)
    wb = Workbook()
    ws = wb.active
    ws.title = "合计"
    _title(ws, report, "全市合计")
    _headings(ws, ["范围", *figures.values()])
    first = ws.max_row + 1
    safe_append(ws, ["合计", *(_value(k, report["city"][k]) for k in keys)])
    money_columns = [2 + keys.index(k) for k in AMOUNTS]
    _format(ws, first, money_columns, [14, *([12] * len(keys))])

    for level, title, names in LEVEL_SHEETS:
        ws = wb.create_sheet(title)
        _title(ws, report, title)
        _headings(ws, [h for h, _ in names] + list(figures.values()))
        first = ws.max_row + 1
        for row in report[level]:
            safe_append(ws, [row.get(key, "") for _, key in names] + [_value(k, row[k]) for k in keys])
        safe_append(ws, ["合计", *[""] * (len(names) - 1), *(_value(k, report["city"][k]) for k in keys)])
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
        _format(ws, first, [len(names) + 1 + keys.index(k) for k in AMOUNTS], [12] * len(names) + [12] * len(keys))

    ws = wb.create_sheet("各环节")
    _title(ws, report, "各环节按期办结情况")
    _headings(ws, list(STAGE_HEADINGS))
    titles = report.get("definition_titles", {})
    for st in report["stages"]:
        rate = Decimal(st["on_time"]) / Decimal(st["with_deadline"]) if st["with_deadline"] else None
        safe_append(
            ws,
            [
                titles.get(st["definition"], st["definition"]),
                st["label"],
                st["finished"],
                st["with_deadline"],
                st["on_time"],
                rate,
                Decimal(str(st["average_working_days"])),
            ],
        )
        ws.cell(row=ws.max_row, column=6).number_format = "0.0%"
    _format(ws, 4, [], [22, 18, 12, 10, 10, 10, 16])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
