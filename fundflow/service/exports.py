"""Excel exports (openpyxl): the per-household cost table for the public notice, a household's
ledger statement (分户账明细) and a top-up notice (续交通知).

Text that people typed (owners' names, reasons) is written as text, never as a formula: a cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (the common CSV/XLSX
injection rules, and their full-width forms) is stored as a string with Excel's quote prefix.
Every XLSX export appends its rows through :func:`safe_append`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

__all__ = ["apportionment_xlsx", "statement_xlsx", "top_up_xlsx", "safe_append", "FORMULA_STARTS"]

HEADERS = (
    "楼栋",
    "单元",
    "房号",
    "业主",
    "建筑面积（㎡）",
    "分摊金额（元）",
    "本案已支取（元）",
    "分户账余额（元）",
    "本案付清后余额（元）",
    "低于首次交存额30%",
)
#: What spreadsheet programs read as the start of a formula (OWASP "CSV injection"), full-width too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def safe_append(ws: Worksheet, values: Iterable[Any], formulas: frozenset[int] = frozenset()) -> None:
    """Append a row; strings are text, except the columns (0-based) in ``formulas``."""
    values = list(values)
    ws.append(values)
    for i, (cell, value) in enumerate(zip(ws[ws.max_row], values)):
        if isinstance(value, str) and i not in formulas and value.startswith(FORMULA_STARTS):
            cell.value = value
            cell.data_type = "s"
            cell.quotePrefix = True


def _finish(ws: Worksheet, first_row: int, money_cols: Iterable[int], widths: Iterable[int]) -> bytes:
    for col in money_cols:
        for (cell,) in ws.iter_rows(min_row=first_row, min_col=col, max_col=col):
            cell.number_format = "#,##0.00"
            cell.alignment = Alignment(horizontal="right")
    for i, width in enumerate(widths):
        ws.column_dimensions[chr(ord("A") + i)].width = width
    out = BytesIO()
    ws.parent.save(out)
    return out.getvalue()


def _sheet(title: str, lines: list[str], headers: Iterable[str]) -> Worksheet:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for line in lines:
        safe_append(ws, [line])
    safe_append(ws, list(headers))
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    return ws


def apportionment_xlsx(table: dict[str, Any]) -> bytes:
    ws = _sheet(
        "分户费用分摊表",
        [
            f"{table['community']} {table['title']}（案件 {table['case_number']}）",
            f"分摊总额：{table['total']} 元；按建筑面积分摊；总面积 {table['total_area']} ㎡；{table['households']} 户；"
            f"已拨付 {table['paid']} 元",
        ],
        HEADERS,
    )
    first = ws.max_row + 1
    for r in table["rows"]:
        safe_append(
            ws,
            [
                r["building"],
                r["unit"],
                r["room"],
                r["owner"] or "",
                Decimal(r["area"]),
                Decimal(r["share"]),
                Decimal(r["paid"]),
                Decimal(r["balance"]),
                Decimal(r["balance_after"]),
                "是" if r["below_30_percent"] else "",
            ],
        )
    last = ws.max_row
    safe_append(
        ws,
        [
            "合计",
            "",
            "",
            "",
            Decimal(table["total_area"]),
            f"=SUM(F{first}:F{last})",
            f"=SUM(G{first}:G{last})",
            "",
            "",
            "",
        ],
        formulas=frozenset({5, 6}),
    )
    for (cell,) in ws.iter_rows(min_row=first, min_col=5, max_col=5):
        cell.number_format = "0.0000"
    return _finish(ws, first, (6, 7, 8, 9), (10, 8, 10, 12, 14, 16, 16, 16, 18, 18))


def statement_xlsx(statement: dict[str, Any]) -> bytes:
    h = statement["household"]
    ws = _sheet(
        "分户账明细",
        [
            f"{h['community']['name']} {h['label']} 分户账明细",
            f"业主：{h['owner'] or ''}；建筑面积 {h['area']} ㎡；首次交存 {h['first_deposit']} 元；"
            f"余额 {h['balance']} 元；冻结 {h['frozen']} 元；可用 {h['available']} 元",
        ],
        (
            "序号",
            "时间",
            "类型",
            "金额（元）",
            "余额变动（元）",
            "冻结变动（元）",
            "余额（元）",
            "冻结（元）",
            "可用（元）",
            "案件",
            "说明",
        ),
    )
    first = ws.max_row + 1
    for e in statement["entries"]:
        safe_append(
            ws,
            [
                e["id"],
                e["at"],
                e["kind_label"],
                Decimal(e["amount"]),
                Decimal(e["balance_change"]),
                Decimal(e["frozen_change"]),
                Decimal(e["balance_after"]),
                Decimal(e["frozen_after"]),
                Decimal(e["available_after"]),
                e["case_number"] or "",
                e["reason"] or "",
            ],
        )
    return _finish(ws, first, (4, 5, 6, 7, 8, 9), (8, 28, 12, 14, 14, 14, 14, 14, 14, 16, 40))


def top_up_xlsx(notice: dict[str, Any]) -> bytes:
    ws = _sheet(
        "续交通知",
        [
            f"{notice['street_office']}：{notice['community']} 维修资金续交通知（案件 {notice['case_number']} {notice['title']}）",
            f"以下 {notice['households']} 户分户账可用余额低于首次交存额的30%，合计应续交 {notice['total']} 元",
        ],
        ("房屋", "业主", "首次交存额（元）", "余额（元）", "冻结（元）", "可用（元）", "续交线（元）", "应续交（元）"),
    )
    first = ws.max_row + 1
    for r in notice["rows"]:
        safe_append(
            ws,
            [
                r["household"],
                r["owner"] or "",
                Decimal(r["first_deposit"]),
                Decimal(r["balance"]),
                Decimal(r["frozen"]),
                Decimal(r["available"]),
                Decimal(r["line"]),
                Decimal(r["top_up"]),
            ],
        )
    last = ws.max_row
    safe_append(ws, ["合计", "", "", "", "", "", "", f"=SUM(H{first}:H{last})"], formulas=frozenset({7}))
    return _finish(ws, first, (3, 4, 5, 6, 7, 8), (16, 14, 16, 14, 14, 14, 14, 14))
