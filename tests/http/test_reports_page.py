"""The report page (统计报表) and the dashboard's trend: the API's figures, a period form that
works without script, the Excel link with the same period, the SVG trend drawn in the page."""

from __future__ import annotations

import re

from tests.support.drivers import API


def _open(web, title: str) -> int:
    r = web.world.client.post(
        f"{API}/cases",
        headers=web.world.h("so"),
        json={"definition": "fire_hazard_emergency", "community_id": web.ids["community_a"], "title": title},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_the_report_page_shows_the_apis_figures_and_reconciles(web):
    for title in ("1栋消防水泵无法启动", "2栋消火栓无水"):
        _open(web, title)
    api = web.world.client.get(f"{API}/reports", params={"year": "2026"}, headers=web.world.h("fc")).json()
    page = web.as_("fc").get("/reports", params={"year": "2026"})
    assert page.status_code == 200
    html = page.text
    assert "<h1>统计报表：2026年</h1>" in html
    assert re.search(r'id="r-started">\s*2\s*<', html) and api["city"]["started"] == 2
    assert re.search(r'id="r-communities-started">\s*1\s*<', html)
    assert "期初在办 0 + 本期发起 2 = 办结 0 + 不予支持 0 + 撤回 0 + 转常规维修 0 + 期末在办 2（件）" in html
    assert 'href="/api/v1/reports/city.xlsx?year=2026"' in html
    assert "<svg" in html and html.count('class="bar started"') == 12  # one per month of the year
    assert "月塘街道" in html and "荷塘区" in html
    assert 'aria-current="page">统计报表' in html


def test_a_wrong_period_on_the_page_says_why_and_shows_the_year_so_far(web):
    r = web.as_("fc").get("/reports", params={"month": "2026-13"})
    assert r.status_code == 422
    assert "统计期间有误" in r.text and "月份格式应为 2026-03" in r.text and "统计报表：" in r.text


def test_the_dashboard_draws_this_years_trend(web):
    _open(web, "1栋消防水泵无法启动")
    html = web.as_("fc").get("/dashboard").text
    assert "2026年逐月趋势" in html and "<svg" in html and 'href="/reports"' in html
    assert re.search(r"2026-03：发起 1 件，办结 0 件", html)


def test_the_case_page_links_its_documents_and_says_why_one_cannot_be_made(web):
    case_id = _open(web, "1栋消防水泵无法启动")
    so = web.as_("so")
    html = so.get(f"/cases/{case_id}").text
    assert "生成文书" in html
    for kind in ("notice", "minutes", "top_up"):
        assert f'href="/cases/{case_id}/generated/{kind}.docx"' in html
        assert f'href="/cases/{case_id}/generated/{kind}.pdf"' in html
    r = so.get(f"/cases/{case_id}/generated/minutes.docx")
    main = r.text.split("<main")[1]
    assert r.status_code == 422 and "联席会议尚未召开" in main and "<h1>" in main and '"code"' not in main
