"""Excel exports (openpyxl): the per-household cost table for the public notice.

Every cell that carries text from users (names, rooms, titles) goes through :func:`safe_cell`,
in this export and in every other XLSX or CSV export: a text that starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return would be read by Excel/WPS as a formula
(``=cmd|' /C calc'!A0``, ``=HYPERLINK(...)``), and is written with a leading ``'`` instead.
"""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

__all__ = ["apportionment_xlsx", "safe_cell", "FORMULA_STARTS"]

#: What spreadsheet programs read as the start of a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")

HEADERS = ("楼栋", "单元", "房号", "业主", "建筑面积（㎡）", "分摊金额（元）", "分户账余额（元）", "扣减后余额（元）", "低于首次交存额30%")


def safe_cell(value: Any) -> Any:
    """``value`` as it may go into an XLSX or CSV cell: a text that a spreadsheet would read as a
    formula gets a leading apostrophe (shown as text, never evaluated); anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def apportionment_xlsx(table: dict[str, Any]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "分户费用分摊表"
    ws.append([safe_cell(f"{table['community']} {table['title']}（案件 {table['case_number']}）")])
    ws.append([f"分摊总额：{table['total']} 元；按建筑面积分摊；总面积 {table['total_area']} ㎡；{table['households']} 户"])
    ws.append(list(HEADERS))
    for cell in ws[3]:
        cell.font = Font(bold=True)
    for r in table["rows"]:
        ws.append([safe_cell(r["building"]), safe_cell(r["unit"]), safe_cell(r["room"]), safe_cell(r["owner"] or ""),
                   Decimal(r["area"]), Decimal(r["share"]),
                   Decimal(r["balance"]), Decimal(r["balance_after"]), "是" if r["below_30_percent"] else ""])
    last = ws.max_row
    ws.append(["合计", "", "", "", Decimal(table["total_area"]), f"=SUM(F4:F{last})", "", "", ""])
    for row in ws.iter_rows(min_row=4, min_col=5, max_col=8):
        for cell in row:
            cell.number_format = "#,##0.00" if cell.column > 5 else "0.0000"
            cell.alignment = Alignment(horizontal="right")
    for col, width in zip("ABCDEFGHI", (10, 8, 10, 12, 14, 16, 16, 16, 18)):
        ws.column_dimensions[col].width = width
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
