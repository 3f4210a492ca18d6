"""Period reports (GET /reports, city.xlsx) on both databases: the figures of a period, by
district, street office and community, that add up across levels and reconcile, and the
workbook that holds the same numbers.

Cases are recorded with offline dates (``occurred_at``) on Monday 16 March 2026:
* A: 月塘新村 (月塘街道, 荷塘区), reported 2 February, through to the archive today (no retention);
* B: 月塘新村, reported 2 March, still open;
* C: 月塘新村, reported 5 March, withdrawn 6 March;
* D: 建宁小区 (建宁街道, 芦淞区), reported 9 March, still open.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest

from fundflow.domain.periods import PeriodError, parse_period
from tests.support.drivers import API, CaseDriver
from tests.support.offline import NOW, ok, open_offline, record_to_the_notice

COUNTS = ("carried_over", "started", "finished", "rejected", "withdrawn", "diverted", "in_progress", "overdue")
AMOUNTS = ("approved", "paid", "frozen", "retention_held")


@pytest.fixture
def drv(world) -> CaseDriver:
    d = CaseDriver(world)
    d.clock.now = NOW
    return d


@pytest.fixture
def city(world, drv) -> dict[str, int]:
    a = record_to_the_notice(drv, date(2026, 2, 2))
    ok(drv, a, "so", "close_notice", {}, "2026-02-14")
    ok(drv, a, "fc", "disburse_in_full", {"paid_amount": "58000.00", "no_retention_reason": "合同未约定质保金"})
    ok(drv, a, "so", "archive", {"archive_no": "YT-2026-001"})
    b = open_offline(drv, "2026-03-02")
    c = open_offline(drv, "2026-03-05")
    ok(drv, c, "so", "withdraw", {"reason": "重复上报"}, "2026-03-06")
    r = drv.client.post(
        f"{API}/cases",
        headers=world.h("so_other"),
        json={
            "definition": "fire_hazard_emergency",
            "community_id": world.ids["community_c"],
            "title": "1栋消火栓无水",
            "occurred_at": "2026-03-09",
        },
    )
    assert r.status_code == 201, r.text
    return {"a": a, "b": b, "c": c, "d": r.json()["id"]}


def report(drv, who="fc", **params) -> dict:
    r = drv.client.get(f"{API}/reports", params=params, headers=drv.world.h(who))
    assert r.status_code == 200, r.text
    return r.json()


def figures(row: dict) -> dict:
    return {k: row[k] for k in COUNTS + AMOUNTS + ("communities_started", "communities_finished")}


def assert_adds_up(rep: dict) -> None:
    """Every figure: city = the sum of the districts = the sum of the offices = the sum of the
    communities; and carried over + started = every way of ending + still in progress."""
    for level in ("districts", "street_offices", "communities"):
        for k in COUNTS + ("communities_started", "communities_finished"):
            assert sum(r[k] for r in rep[level]) == rep["city"][k], (level, k)
        for k in AMOUNTS:
            assert sum(Decimal(r[k]) for r in rep[level]) == Decimal(rep["city"][k]), (level, k)
    c = rep["city"]
    ended = c["finished"] + c["rejected"] + c["withdrawn"] + c["diverted"]
    assert c["carried_over"] + c["started"] == ended + c["in_progress"]


def test_the_year_counts_cases_and_communities_and_adds_up(world, drv, city):
    rep = report(drv, year="2026")
    assert rep["period"] == {"from": "2026-01-01", "to": "2026-12-31", "label": "2026年"}
    c = rep["city"]
    assert (c["started"], c["finished"], c["withdrawn"], c["in_progress"], c["carried_over"]) == (4, 1, 1, 2, 0)
    assert (c["communities_started"], c["communities_finished"]) == (2, 1)  # 月塘新村 thrice, 建宁小区
    # A: 60,000 frozen at the approval; 58,000 paid; the rest released at the archive
    assert (c["approved"], c["paid"], c["frozen"], c["retention_held"]) == ("60000.00", "58000.00", "0.00", "0.00")
    assert {r["name"] for r in rep["districts"]} == {"荷塘区", "芦淞区"}
    offices = {r["name"]: r for r in rep["street_offices"]}
    assert offices["月塘街道"]["started"] == 3 and offices["建宁街道"]["started"] == 1
    assert offices["月塘街道"]["district"] == "荷塘区"
    assert_adds_up(rep)


def test_a_month_carries_over_what_was_open_when_it_began(world, drv, city):
    feb, mar = report(drv, month="2026-02"), report(drv, month="2026-03")
    assert feb["period"]["label"] == "2026年2月"
    assert (feb["city"]["started"], feb["city"]["in_progress"], feb["city"]["finished"]) == (1, 1, 0)
    m = mar["city"]
    assert (m["carried_over"], m["started"], m["finished"], m["withdrawn"], m["in_progress"]) == (1, 3, 1, 1, 2)
    assert_adds_up(feb)
    assert_adds_up(mar)
    # the money is counted when the journal posted it: all of it on 16 March
    assert feb["city"]["paid"] == "0.00" and mar["city"]["paid"] == "58000.00"
    assert [m["month"] for m in report(drv, quarter="2026Q1")["months"]] == ["2026-01", "2026-02", "2026-03"]
    q1 = report(drv, quarter="2026Q1")["months"]
    assert [(m["started"], m["finished"]) for m in q1] == [(0, 0), (1, 0), (3, 1)]


def test_a_street_office_sees_its_own_figures_only(world, drv, city):
    rep = report(drv, "so", year="2026")
    assert [r["name"] for r in rep["street_offices"]] == ["月塘街道"]
    assert rep["city"]["started"] == 3 and rep["city"]["communities_started"] == 1
    assert_adds_up(rep)


def test_the_stages_report_on_time_finishing(world, drv, city):
    stages = {s["state"]: s for s in report(drv, year="2026")["stages"]}
    survey = stages["site_survey"]
    assert survey["finished"] == 1 and survey["with_deadline"] == 1
    assert survey["on_time"] in (0, 1) and survey["on_time_rate"] in ("0.0%", "100.0%")


def test_the_workbook_holds_the_apis_numbers_as_numbers(world, drv, city):
    rep = report(drv, year="2026")
    r = drv.client.get(f"{API}/reports/city.xlsx", params={"year": "2026"}, headers=world.h("fc"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["合计", "按区", "按街道", "按小区", "各环节"]
    keys = list(rep["figures"])
    for ws in wb.worksheets:
        assert "2026年" in ws["A2"].value and "2026-01-01 至 2026-12-31" in ws["A2"].value
        assert all(cell.data_type != "f" for row in ws.iter_rows() for cell in row)  # never a formula
    total = wb["合计"]
    assert [c.value for c in total[3]] == ["范围", *rep["figures"].values()]
    values = dict(zip(keys, [c.value for c in total[4]][1:]))
    for k in COUNTS:
        assert values[k] == rep["city"][k] and isinstance(values[k], int)
    for k in AMOUNTS:
        assert isinstance(values[k], (int, float, Decimal)) and Decimal(str(values[k])) == Decimal(rep["city"][k])
    offices = wb["按街道"]
    rows = {row[1]: row for row in offices.iter_rows(min_row=4, values_only=True) if row[1]}
    for office in rep["street_offices"]:
        row = rows[office["name"]]
        assert row[0] == office["district"]
        assert (
            list(row[2 : 2 + len(COUNTS) + 2])[: len(keys)]
            == [(float(office[k]) if k in AMOUNTS else office[k]) for k in keys][: len(COUNTS) + 2]
        )
    assert offices.cell(row=4, column=2 + keys.index("paid") + 1).number_format == "#,##0.00"


def test_a_community_whose_name_looks_like_a_formula_is_text_in_the_workbook(world, drv, city):
    from fundflow.service.db import transaction
    from fundflow.service.tables import Community

    with transaction(world.svc.sessions) as s:
        s.get(Community, world.ids["community_a"]).name = '=HYPERLINK("http://x")'
    r = drv.client.get(f"{API}/reports/city.xlsx", params={"year": "2026"}, headers=world.h("fc"))
    ws = openpyxl.load_workbook(io.BytesIO(r.content))["按小区"]
    cells = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert cells and all(c.data_type == "s" for c in cells)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"month": "2026-13"}, "month"),
        ({"quarter": "2026Q5"}, "quarter"),
        ({"year": "26"}, "year"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"year": "2026", "month": "2026-03"}, "month"),
        ({"definition": "no_such_procedure"}, "definition"),
    ],
)
def test_a_period_that_cannot_be_read_is_a_422_with_a_chinese_reason(world, drv, params, field):
    r = drv.client.get(f"{API}/reports", params=params, headers=world.h("fc"))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] in ("invalid_period", "unknown_definition") and body["detail"]["field"] == field
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])


def test_periods_as_the_city_names_them():
    today = date(2026, 3, 16)
    assert parse_period(today).first == date(2026, 1, 1) and parse_period(today).last == today
    q = parse_period(today, quarter="2025Q4")
    assert (q.first, q.last, q.label) == (date(2025, 10, 1), date(2025, 12, 31), "2025年第4季度")
    m = parse_period(today, month="2024-02")
    assert (m.first, m.last) == (date(2024, 2, 1), date(2024, 2, 29))  # a leap year
    with pytest.raises(PeriodError):
        parse_period(today, start="2000-01-01", end="2026-01-01")  # more than ten years
